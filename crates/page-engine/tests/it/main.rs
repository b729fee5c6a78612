//! page-engine's integration tests, in one binary: the representation builders (`build`) and
//! the lifecycle engine end to end (`engine`).

mod build;
mod engine;
