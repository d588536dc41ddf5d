//! The `sort` parameter of lists: `-created_at,title` sorts by creation, newest first, then by
//! title. Ties are always broken by id, so pages are stable.

use rampart_core::field::{FieldType, SystemField};
use rampart_core::schema::FieldRef;
use rampart_core::{FieldDef, FieldError, Invalid, TableDef};

/// Most keys in one sort.
pub const MAX_SORT_KEYS: usize = 4;

/// What a list is ordered by (the id, the final tie-breaker, is not a key).
#[derive(Debug, Clone, PartialEq)]
pub enum SortTarget {
    System(SystemField),
    Field(FieldDef),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub target: SortTarget,
    pub descending: bool,
}

/// A parsed sort: keys, then the id in `id_descending` order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sort {
    pub keys: Vec<SortKey>,
    pub id_descending: bool,
}

impl Sort {
    /// The canonical text of this sort (bound into cursors).
    pub fn canonical(&self) -> String {
        let mut parts: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                let name = match &k.target {
                    SortTarget::System(s) => s.name().to_owned(),
                    SortTarget::Field(f) => f.id.to_string(),
                };
                format!("{}{name}", if k.descending { "-" } else { "" })
            })
            .collect();
        parts.push(format!("{}id", if self.id_descending { "-" } else { "" }));
        parts.join(",")
    }
}

/// Parses `sort` against `table`. `readable` says whether the caller may sort by a field; one
/// they may not is unknown, exactly like a field that does not exist, before its type or
/// encryption is looked at (`None` allows every field).
pub fn parse_sort(
    table: &TableDef,
    text: &str,
    readable: Option<&dyn Fn(&FieldDef) -> bool>,
) -> Result<Sort, Invalid> {
    let mut sort = Sort::default();
    let err = |code: &'static str, msg: String| Invalid::from(FieldError::new("sort", code, msg));
    let items: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.len() > MAX_SORT_KEYS + 1 {
        return Err(err(
            "too_many_keys",
            format!("at most {MAX_SORT_KEYS} sort keys"),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        let (descending, name) = match item.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, item.strip_prefix('+').unwrap_or(item)),
        };
        let name = name.trim_matches('`');
        let target = match table.resolve(name) {
            Some(FieldRef::System(SystemField::Id)) => {
                if i + 1 != items.len() {
                    return Err(err("invalid_sort", "id must be the last sort key".into()));
                }
                sort.id_descending = descending;
                continue;
            }
            Some(FieldRef::System(s)) => SortTarget::System(s),
            Some(FieldRef::User(f)) if readable.is_some_and(|ok| !ok(f)) => {
                return Err(err("unknown_field", format!("no field named {name:?}")));
            }
            Some(FieldRef::User(f)) => {
                if !f.field_type.is_scalar_column() || matches!(f.field_type, FieldType::Link(_)) {
                    return Err(err(
                        "unsortable_field",
                        format!(
                            "{name:?} is a {} field and cannot be sorted",
                            f.field_type.kind().as_str()
                        ),
                    ));
                }
                if f.encrypted {
                    return Err(err(
                        "unsortable_field",
                        format!("{name:?} is encrypted: its values cannot be sorted"),
                    ));
                }
                SortTarget::Field(f.clone())
            }
            None => return Err(err("unknown_field", format!("no field named {name:?}"))),
        };
        if sort.keys.iter().any(|k| k.target == target) {
            return Err(err("invalid_sort", format!("{name:?} appears twice")));
        }
        sort.keys.push(SortKey { target, descending });
    }
    if sort.keys.len() > MAX_SORT_KEYS {
        return Err(err(
            "too_many_keys",
            format!("at most {MAX_SORT_KEYS} sort keys"),
        ));
    }
    if items.len() == sort.keys.len() {
        // No explicit id: ties follow the first key's direction.
        sort.id_descending = sort.keys.first().is_some_and(|k| k.descending);
    }
    Ok(sort)
}
