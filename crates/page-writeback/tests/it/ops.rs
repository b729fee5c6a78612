//! The merge rules: properties of `apply_op`.

use page_writeback::{FieldState, FieldVersion, Op, OpError, apply_op};
use proptest::prelude::*;
use serde_json::{Value, json};

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ]
}

proptest! {
    #[test]
    fn append_keeps_every_item_and_bumps_the_version(
        items in prop::collection::vec(scalar(), 0..8),
        item in scalar(),
        version in 0u64..100,
    ) {
        let current = FieldState { value: Value::Array(items.clone()), version: FieldVersion::new(version) };
        let next = apply_op(Some(&current), Op::Append, &item).unwrap();
        let mut expected = items;
        expected.push(item);
        prop_assert_eq!(next.value, Value::Array(expected));
        prop_assert_eq!(next.version, FieldVersion::new(version + 1));
    }

    #[test]
    fn merge_never_removes_a_key(
        old in prop::collection::btree_map("[a-c]", scalar(), 0..4),
        add in prop::collection::btree_map("[a-e]", scalar(), 0..4),
    ) {
        let current = FieldState { value: json!(old), version: FieldVersion::new(1) };
        let next = apply_op(Some(&current), Op::Merge, &json!(add)).unwrap();
        let map = next.value.as_object().unwrap();
        for k in old.keys() {
            prop_assert!(map.contains_key(k));
        }
        for (k, v) in &add {
            prop_assert_eq!(&map[k], v);
        }
    }

    #[test]
    fn set_with_version_applies_only_at_the_committed_version(
        committed in 0u64..5,
        expected in 0u64..5,
        value in scalar(),
    ) {
        let current = FieldState { value: json!("old"), version: FieldVersion::new(committed) };
        let res = apply_op(Some(&current), Op::SetWithVersion { expected: FieldVersion::new(expected) }, &value);
        if committed == expected {
            prop_assert_eq!(res.unwrap(), FieldState { value, version: FieldVersion::new(committed + 1) });
        } else {
            prop_assert!(matches!(res, Err(OpError::Destructive(_))));
        }
    }
}

#[test]
fn destructive_ops_never_apply() {
    let current = FieldState {
        value: json!(["a"]),
        version: FieldVersion::new(1),
    };
    for op in [Op::Overwrite, Op::Remove] {
        assert!(matches!(
            apply_op(Some(&current), op, &json!(["b"])),
            Err(OpError::Destructive(_))
        ));
        assert!(matches!(
            apply_op(None, op, &json!(["b"])),
            Err(OpError::Destructive(_))
        ));
    }
}
