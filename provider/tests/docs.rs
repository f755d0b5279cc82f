//! The committed docs are exactly what the schemas generate.
use std::path::Path;

use terraform_provider_staging::docs;
use terraform_provider_staging::provider::StagingProvider;

#[test]
fn committed_docs_match_the_schemas() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let pages = docs::pages(&StagingProvider, &|key| docs::example_for(root, key));
    assert!(pages.iter().any(|p| p.path == "index.md"));
    let mut stale = vec![];
    for p in &pages {
        let committed =
            std::fs::read_to_string(root.join("docs").join(&p.path)).unwrap_or_default();
        if committed != p.content {
            stale.push(p.path.clone());
        }
    }
    assert!(
        stale.is_empty(),
        "docs out of date: {stale:?}; regenerate with `cargo run -p terraform-provider-staging -- docs`"
    );
}

#[test]
fn provider_page_documents_every_attribute_and_block() {
    let pages = docs::pages(&StagingProvider, &|_| None);
    let index = &pages.iter().find(|p| p.path == "index.md").unwrap().content;
    for name in [
        "region",
        "profile",
        "default_tags",
        "assume_role",
        "endpoints",
        "production_guard",
        "role_arn",
        "tag_values",
    ] {
        assert!(
            index.contains(&format!("`{name}`")),
            "{name} missing from index.md"
        );
    }
    assert!(
        index.contains("(string, Sensitive)"),
        "external_id must be flagged sensitive"
    );
}
