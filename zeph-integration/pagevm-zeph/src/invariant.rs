//! A stricter `ToolOutput` invariant for Zeph's typed-page registry: a compacted tool output
//! must keep the tool name, a status token, and every file path of the original (up to the
//! structured form's limit), which is what later turns refer back to.

use zeph_context::typed_page::{
    CompactedPage, FidelityContract, FidelityViolation, PageInvariant, PageOrigin, PageType,
    TypedPage,
};

/// Zeph's `ToolOutput` contract plus path retention: the fidelity pagevm's structured form
/// guarantees. Implements Zeph's `PageInvariant`, so it can be registered where Zeph accepts
/// invariants (0.21.4's `InvariantRegistry` has no registration API yet; see
/// `docs/zeph-integration.md`) and checked directly meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct PathRetainingToolOutput {
    /// Most paths required (the structured form lists at most this many).
    pub max_paths: usize,
}

impl Default for PathRetainingToolOutput {
    fn default() -> Self {
        Self {
            max_paths: page_engine::BuildConfig::default().max_paths,
        }
    }
}

impl PageInvariant for PathRetainingToolOutput {
    fn page_type(&self) -> PageType {
        PageType::ToolOutput
    }

    fn minimum_fidelity(&self, _page: &TypedPage) -> FidelityContract {
        FidelityContract {
            fidelity_level: "pagevm_structured_v1",
            invariant_version: 1,
            required_fields: &["tool_name", "exit_status", "paths"],
        }
    }

    fn verify(
        &self,
        original: &TypedPage,
        compacted: &CompactedPage,
    ) -> Result<(), Vec<FidelityViolation>> {
        let body = compacted.body.as_ref();
        let mut v = Vec::new();
        if let PageOrigin::ToolPair { tool_name } = &original.origin
            && !tool_name.is_empty()
            && !body.contains(tool_name.as_str())
        {
            v.push(FidelityViolation {
                missing_field: "tool_name".into(),
                detail: format!("compacted output does not name tool {tool_name:?}"),
            });
        }
        if !body.contains("status:") {
            v.push(FidelityViolation {
                missing_field: "exit_status".into(),
                detail: "compacted output has no status".into(),
            });
        }
        let paths = page_engine::specifics(&original.body).paths;
        for p in paths.iter().take(self.max_paths) {
            if !body.contains(p.as_str()) {
                v.push(FidelityViolation {
                    missing_field: "paths".into(),
                    detail: format!("path {p} of the original is missing"),
                });
            }
        }
        if v.is_empty() { Ok(()) } else { Err(v) }
    }
}
