//! Attribute paths: where in a value a diagnostic, a codec error or a replace request points.
use std::fmt;

use super::proto::tfplugin5 as pb;

/// One step into a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathStep {
    /// An object attribute or a nested block type name.
    Attr(String),
    /// A map element (or a MAP-nested block label).
    Key(String),
    /// A list or tuple element.
    Index(i64),
}

/// A path from the root of a resource (or provider) object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributePath {
    pub steps: Vec<PathStep>,
}

impl AttributePath {
    pub fn root() -> Self {
        Self::default()
    }
    /// `AttributePath::attr("database")` — shorthand for the common top-level case.
    pub fn attr(name: impl Into<String>) -> Self {
        Self::root().join_attr(name)
    }
    pub fn join_attr(&self, name: impl Into<String>) -> Self {
        self.join(PathStep::Attr(name.into()))
    }
    pub fn join_key(&self, key: impl Into<String>) -> Self {
        self.join(PathStep::Key(key.into()))
    }
    pub fn join_index(&self, index: usize) -> Self {
        self.join(PathStep::Index(index as i64))
    }
    pub fn join(&self, step: PathStep) -> Self {
        let mut steps = self.steps.clone();
        steps.push(step);
        Self { steps }
    }
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }

    pub fn to_proto(&self) -> pb::AttributePath {
        use pb::attribute_path::step::Selector;
        pb::AttributePath {
            steps: self
                .steps
                .iter()
                .map(|s| pb::attribute_path::Step {
                    selector: Some(match s {
                        PathStep::Attr(n) => Selector::AttributeName(n.clone()),
                        PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                        PathStep::Index(i) => Selector::ElementKeyInt(*i),
                    }),
                })
                .collect(),
        }
    }

    pub fn from_proto(p: &pb::AttributePath) -> Self {
        use pb::attribute_path::step::Selector;
        Self {
            steps: p
                .steps
                .iter()
                .filter_map(|s| {
                    s.selector.as_ref().map(|sel| match sel {
                        Selector::AttributeName(n) => PathStep::Attr(n.clone()),
                        Selector::ElementKeyString(k) => PathStep::Key(k.clone()),
                        Selector::ElementKeyInt(i) => PathStep::Index(*i),
                    })
                })
                .collect(),
        }
    }
}

impl fmt::Display for AttributePath {
    /// HCL traversal syntax: `database.instance_class`, `rule[2].column`, `tags["Team"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return f.write_str("(root)");
        }
        for (i, s) in self.steps.iter().enumerate() {
            match s {
                PathStep::Attr(n) if i == 0 => f.write_str(n)?,
                PathStep::Attr(n) => write!(f, ".{n}")?,
                PathStep::Key(k) => write!(f, "[{k:?}]")?,
                PathStep::Index(ix) => write!(f, "[{ix}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_hcl_traversal() {
        let p = AttributePath::attr("rule")
            .join_index(2)
            .join_attr("column");
        assert_eq!(p.to_string(), "rule[2].column");
        let p = AttributePath::attr("tags").join_key("Team");
        assert_eq!(p.to_string(), "tags[\"Team\"]");
    }

    #[test]
    fn proto_round_trip() {
        let p = AttributePath::attr("a").join_key("k").join_index(7);
        assert_eq!(AttributePath::from_proto(&p.to_proto()), p);
    }
}
