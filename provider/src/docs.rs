//! Registry-format documentation generated from the schemas, so docs cannot drift from the
//! code: `terraform-provider-staging docs [DIR]` writes `DIR/index.md`,
//! `DIR/resources/*.md` and `DIR/data-sources/*.md`; a test fails when the committed files
//! differ from what the schemas produce.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::tfplugin::schema::{Attribute, Block, Nesting, Presence, Schema};
use crate::tfplugin::Provider;

/// One generated page: path relative to the docs directory, and its content.
pub struct Page {
    pub path: String,
    pub content: String,
}

/// Every page for `provider`; `examples` finds the example configuration for a page key
/// (`provider`, or a resource/data source type name).
pub fn pages(provider: &dyn Provider, examples: &dyn Fn(&str) -> Option<String>) -> Vec<Page> {
    let mut out = vec![Page {
        path: "index.md".into(),
        content: page(
            "stagecraft Provider",
            "provider",
            &provider.schema(),
            examples("provider"),
            "Declarative staging environments on AWS: a production mirror, sanitized data and auto-destroy.",
        ),
    }];
    for r in provider.resources() {
        let short = r.type_name().trim_start_matches("staging_");
        out.push(Page {
            path: format!("resources/{short}.md"),
            content: page(
                &format!("{} Resource - stagecraft", r.type_name()),
                r.type_name(),
                r.schema(),
                examples(r.type_name()),
                &r.schema().block.description,
            ),
        });
    }
    for d in provider.data_sources() {
        let short = d.type_name().trim_start_matches("staging_");
        out.push(Page {
            path: format!("data-sources/{short}.md"),
            content: page(
                &format!("{} Data Source - stagecraft", d.type_name()),
                d.type_name(),
                d.schema(),
                examples(d.type_name()),
                &d.schema().block.description,
            ),
        });
    }
    out
}

/// Writes every page under `dir`.
pub fn write_all(dir: &Path, pages: &[Page]) -> std::io::Result<()> {
    for p in pages {
        let path = dir.join(&p.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, &p.content)?;
    }
    Ok(())
}

fn page(
    title: &str,
    key: &str,
    schema: &Schema,
    example: Option<String>,
    description: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "---\npage_title: \"{title}\"\ndescription: |-\n  {description}\n---\n"
    );
    let heading = if key == "provider" {
        "stagecraft Provider".to_string()
    } else {
        format!(
            "{key} ({})",
            if title.contains("Data Source") {
                "Data Source"
            } else {
                "Resource"
            }
        )
    };
    let _ = writeln!(s, "# {heading}\n\n{description}\n");
    if let Some(ex) = example {
        let _ = writeln!(
            s,
            "## Example Usage\n\n```terraform\n{}\n```\n",
            ex.trim_end()
        );
    }
    let _ = writeln!(s, "## Schema\n");
    let mut nested = BTreeMap::new();
    block_section(&mut s, &schema.block, "", &mut nested);
    // Nested blocks are documented after the top level, in name order, each once.
    while let Some((anchor, (name, block))) = nested.pop_first() {
        let _ = writeln!(
            s,
            "<a id=\"{anchor}\"></a>\n### Nested Schema for `{name}`\n"
        );
        let mut more = BTreeMap::new();
        block_section(&mut s, &block, &format!("{name}."), &mut more);
        nested.extend(more);
    }
    s.trim_end().to_string() + "\n"
}

fn anchor(prefix: &str, name: &str) -> String {
    format!("nestedblock--{}{}", prefix.replace('.', "--"), name)
}

fn block_section(
    s: &mut String,
    block: &Block,
    prefix: &str,
    nested: &mut BTreeMap<String, (String, Block)>,
) {
    type Pick = fn(&Attribute) -> bool;
    let groups: [(&str, Pick); 3] = [
        ("Required", |a| a.presence == Presence::Required),
        ("Optional", |a| {
            matches!(a.presence, Presence::Optional | Presence::OptionalComputed)
        }),
        ("Read-Only", |a| a.presence == Presence::Computed),
    ];
    for (title, pick) in groups {
        let mut lines = vec![];
        for a in block.attributes.iter().filter(|a| pick(a)) {
            let mut flags = vec![a.ty.to_string()];
            if a.sensitive {
                flags.push("Sensitive".into());
            }
            if a.write_only {
                flags.push("Write-only".into());
            }
            if a.deprecated {
                flags.push("Deprecated".into());
            }
            lines.push(format!(
                "- `{}` ({}) {}",
                a.name,
                flags.join(", "),
                a.description
            ));
        }
        if title != "Read-Only" {
            for b in &block.blocks {
                let required = b.min_items > 0;
                if (title == "Required") != required {
                    continue;
                }
                let kind = match b.nesting {
                    Nesting::Single | Nesting::Group => "Block",
                    Nesting::List => "Block List",
                    Nesting::Set => "Block Set",
                    Nesting::Map => "Block Map",
                };
                let max = if b.max_items > 0 {
                    format!(", Max: {}", b.max_items)
                } else {
                    String::new()
                };
                let a = anchor(prefix, &b.type_name);
                lines.push(format!(
                    "- `{}` ({kind}{max}) {} (see [below for nested schema](#{a}))",
                    b.type_name, b.block.description
                ));
                nested.insert(a, (format!("{prefix}{}", b.type_name), b.block.clone()));
            }
        }
        if !lines.is_empty() {
            // Top level gets headings; nested schemas a label (they sit under a heading already).
            if prefix.is_empty() {
                let _ = writeln!(s, "### {title}\n\n{}\n", lines.join("\n"));
            } else {
                let _ = writeln!(s, "{title}:\n\n{}\n", lines.join("\n"));
            }
        }
    }
}

/// The example for a page, by the registry's conventions: `examples/provider/provider.tf`,
/// `examples/resources/TYPE/resource.tf`, `examples/data-sources/TYPE/data-source.tf`.
pub fn example_for(root: &Path, key: &str) -> Option<String> {
    let candidates = [
        root.join("examples/provider/provider.tf"),
        root.join(format!("examples/resources/{key}/resource.tf")),
        root.join(format!("examples/data-sources/{key}/data-source.tf")),
    ];
    let pick = if key == "provider" {
        &candidates[..1]
    } else {
        &candidates[1..]
    };
    pick.iter().find_map(|p| std::fs::read_to_string(p).ok())
}
