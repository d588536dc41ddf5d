//! Permission-set definitions: what a set grants per table, as stored and as shown.
//!
//! Stored rules name fields by id (`` `#<field id>` ``), so renaming a field never changes a
//! rule's meaning; they are shown with the fields' current names. A definition is validated
//! when saved: tables and fields must exist, rules must parse and type-check against the
//! fields the set can read, and `access via` chains must not return to a table already on
//! them nor go deeper than [`MAX_ACCESS_DEPTH`].

use std::collections::{BTreeMap, HashMap};

use rampart_core::field::FieldType;
use rampart_core::{FieldError, FieldId, Invalid, TableDef, TableId};
use rampart_rules::ast::Expr;
use rampart_rules::check::{AttributeDef, Scope};
use serde::{Deserialize, Serialize};

/// Longest chain of `access via` from one table to the next.
pub const MAX_ACCESS_DEPTH: usize = 4;

/// Access to one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FieldAccess {
    None,
    Read,
    #[default]
    Write,
}

impl FieldAccess {
    pub fn reads(self) -> bool {
        self >= Self::Read
    }

    pub fn writes(self) -> bool {
        self == Self::Write
    }
}

/// The record operations a rule can govern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Create,
    Read,
    Update,
    Delete,
}

impl Op {
    pub const ALL: [Op; 4] = [Op::Create, Op::Read, Op::Update, Op::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Read => "read",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// Rules per operation (absent: every record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<String>,
}

impl Rules {
    pub fn get(&self, op: Op) -> Option<&String> {
        match op {
            Op::Create => self.create.as_ref(),
            Op::Read => self.read.as_ref(),
            Op::Update => self.update.as_ref(),
            Op::Delete => self.delete.as_ref(),
        }
    }

    fn get_mut(&mut self, op: Op) -> &mut Option<String> {
        match op {
            Op::Create => &mut self.create,
            Op::Read => &mut self.read,
            Op::Update => &mut self.update,
            Op::Delete => &mut self.delete,
        }
    }
}

/// What a set grants on one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TableGrantDef {
    #[serde(default)]
    pub create: bool,
    #[serde(default)]
    pub read: bool,
    #[serde(default)]
    pub update: bool,
    #[serde(default)]
    pub delete: bool,
    /// Access to fields not listed in `fields`.
    #[serde(default)]
    pub default_access: FieldAccess,
    /// Access per field (by id when stored; by id or name when sent), and `owner`.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldAccess>,
    #[serde(default)]
    pub rules: Rules,
}

impl TableGrantDef {
    /// The same grant with every write taken away (for read-only API tokens).
    pub fn read_only(mut self) -> Self {
        self.create = false;
        self.update = false;
        self.delete = false;
        self.default_access = self.default_access.min(FieldAccess::Read);
        for access in self.fields.values_mut() {
            *access = (*access).min(FieldAccess::Read);
        }
        self
    }

    pub fn allows(&self, op: Op) -> bool {
        match op {
            Op::Create => self.create,
            Op::Read => self.read,
            Op::Update => self.update,
            Op::Delete => self.delete,
        }
    }

    /// Access to a field (stored form: keys are field ids).
    pub fn field_access(&self, field: FieldId) -> FieldAccess {
        self.fields
            .get(&field.to_string())
            .copied()
            .unwrap_or(self.default_access)
    }

    /// Access to the record's owner.
    pub fn owner_access(&self) -> FieldAccess {
        // Giving records away is never implied by `default_access`: it needs an explicit
        // `"owner": "write"`.
        self.fields
            .get("owner")
            .copied()
            .unwrap_or(FieldAccess::Read)
    }
}

/// A whole set: grants per table id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SetDefinition {
    #[serde(default)]
    pub tables: BTreeMap<String, TableGrantDef>,
}

impl SetDefinition {
    /// The stored definition of a set (an unreadable document grants nothing).
    pub fn from_stored(json: &serde_json::Value) -> Self {
        serde_json::from_value(json.clone()).unwrap_or_default()
    }

    pub fn grant(&self, table: TableId) -> Option<&TableGrantDef> {
        self.tables.get(&table.to_string())
    }
}

fn err(field: String, code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, code, message)
}

/// Converts a rule between the names people write and the `#<id>` form it is stored in.
/// `to_ids`: names → ids; otherwise ids → current names (unknown ids stay as they are).
pub fn translate_rule(
    expr: &Expr,
    table: &TableDef,
    tables: &HashMap<TableId, TableDef>,
    to_ids: bool,
) -> Expr {
    let mut first: Option<TableDef> = None;
    expr.map_names(&mut |depth, name| {
        let in_table = if depth == 0 {
            table.clone()
        } else {
            first.clone()?
        };
        let field = if to_ids {
            in_table.field_by_name(name)
        } else {
            name.strip_prefix('#')
                .and_then(|id| id.parse::<FieldId>().ok())
                .and_then(|id| in_table.field(id))
        }
        .cloned();
        if depth == 0 {
            first = field.as_ref().and_then(|f| match &f.field_type {
                FieldType::Link(o) => tables.get(&o.table_id).cloned(),
                _ => None,
            });
        }
        field.map(|f| if to_ids { format!("#{}", f.id) } else { f.name })
    })
}

/// Everything a definition is checked against.
#[derive(Debug)]
pub struct Catalog<'a> {
    /// The project's tables by id.
    pub tables: &'a HashMap<TableId, TableDef>,
    pub attributes: &'a [AttributeDef],
    /// The other sets of the project (for `access via` chains), stored form.
    pub other_sets: &'a [SetDefinition],
}

/// Validates a definition sent by a client and returns its stored form: field keys as ids,
/// rules in `#<id>` form. Every problem is reported, with its path and position.
pub fn normalize(input: SetDefinition, catalog: &Catalog<'_>) -> Result<SetDefinition, Invalid> {
    let mut errors = Vec::new();
    let mut out = SetDefinition::default();
    // Resolve tables and fields first: rules are checked against what the set can read.
    let mut grants: Vec<(TableDef, TableGrantDef, String)> = Vec::new();
    for (key, grant) in input.tables {
        let path = format!("tables.{key}");
        let Some(table) = key
            .parse::<TableId>()
            .ok()
            .and_then(|id| catalog.tables.get(&id))
        else {
            errors.push(err(path, "unknown_table", "no such table in this project"));
            continue;
        };
        let mut fields = BTreeMap::new();
        for (fkey, access) in &grant.fields {
            if fkey == "owner" {
                fields.insert("owner".to_owned(), *access);
                continue;
            }
            let field = fkey
                .parse::<FieldId>()
                .ok()
                .and_then(|id| table.field(id))
                .or_else(|| table.field_by_name(fkey));
            match field {
                Some(f) => {
                    fields.insert(f.id.to_string(), *access);
                }
                None => errors.push(err(
                    format!("{path}.fields.{fkey}"),
                    "unknown_field",
                    "no such field in this table",
                )),
            }
        }
        grants.push((table.clone(), TableGrantDef { fields, ..grant }, path));
    }
    // A rule may consult only what the set itself lets its holders read: on its own table the
    // fields the set reads, and through a link only a table the set grants read on (a table
    // it does not read has no usable column, system columns included).
    let readable: HashMap<TableId, TableGrantDef> =
        grants.iter().map(|(t, g, _)| (t.id, g.clone())).collect();
    let lookup = |id: TableId| catalog.tables.get(&id).cloned();
    for (table, mut grant, path) in grants {
        let rule_table = table.id;
        let can_read = |at: TableId, col: &rampart_rules::check::Col| {
            readable.get(&at).is_some_and(|g| {
                (at == rule_table || g.read)
                    && match col {
                        rampart_rules::check::Col::System(_) => true,
                        rampart_rules::check::Col::Field(f) => g.field_access(f.id).reads(),
                    }
            })
        };
        let scope = Scope {
            tables: &lookup,
            readable: Some(&can_read),
            attributes: catalog.attributes,
            rule: true,
        };
        for op in Op::ALL {
            let Some(text) = grant.rules.get(op).cloned() else {
                continue;
            };
            let at = format!("{path}.rules.{}", op.as_str());
            let parsed = match rampart_rules::parse(&text) {
                Ok(e) => e,
                Err(e) => {
                    errors.push(err(at, "invalid_rule", e.message).at(e.position));
                    continue;
                }
            };
            if let Err(inv) = rampart_rules::check(&parsed, &table, &scope, &at) {
                errors.extend(inv.errors);
                continue;
            }
            *grant.rules.get_mut(op) =
                Some(translate_rule(&parsed, &table, catalog.tables, true).to_string());
        }
        out.tables.insert(table.id.to_string(), grant);
    }
    if errors.is_empty() {
        check_chains(&out, catalog, &mut errors);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Invalid { errors })
    }
}

/// The tables a stored rule delegates to.
fn rule_targets(text: &str, table: &TableDef, catalog: &Catalog<'_>) -> Vec<TableId> {
    let Ok(expr) = rampart_rules::parse(text) else {
        return Vec::new();
    };
    let lookup = |id: TableId| catalog.tables.get(&id).cloned();
    let scope = Scope {
        tables: &lookup,
        readable: None,
        attributes: catalog.attributes,
        rule: true,
    };
    let mut out = Vec::new();
    if let Ok(pred) = rampart_rules::check(&expr, table, &scope, "rule") {
        pred.access_targets(&mut out);
    }
    out
}

/// Refuses `access via` chains (over this set and the project's other sets) that return to
/// a table already on them, or that are longer than [`MAX_ACCESS_DEPTH`].
fn check_chains(new: &SetDefinition, catalog: &Catalog<'_>, errors: &mut Vec<FieldError>) {
    let mut edges: HashMap<TableId, Vec<TableId>> = HashMap::new();
    for def in catalog.other_sets.iter().chain(std::iter::once(new)) {
        for (key, grant) in &def.tables {
            let Some(table) = key
                .parse::<TableId>()
                .ok()
                .and_then(|id| catalog.tables.get(&id))
            else {
                continue;
            };
            for op in Op::ALL {
                if let Some(text) = grant.rules.get(op) {
                    edges
                        .entry(table.id)
                        .or_default()
                        .extend(rule_targets(text, table, catalog));
                }
            }
        }
    }
    fn walk(
        at: TableId,
        path: &mut Vec<TableId>,
        edges: &HashMap<TableId, Vec<TableId>>,
    ) -> Option<(&'static str, String)> {
        if path.contains(&at) {
            return Some((
                "access_cycle",
                "access via leads back to a table already on the chain".into(),
            ));
        }
        if path.len() > MAX_ACCESS_DEPTH {
            return Some((
                "access_too_deep",
                format!("access via chains are at most {MAX_ACCESS_DEPTH} links long"),
            ));
        }
        path.push(at);
        for next in edges.get(&at).into_iter().flatten() {
            if let Some(problem) = walk(*next, path, edges) {
                return Some(problem);
            }
        }
        path.pop();
        None
    }
    for (key, grant) in &new.tables {
        let Ok(start) = key.parse::<TableId>() else {
            continue;
        };
        for op in Op::ALL {
            let Some(text) = grant.rules.get(op) else {
                continue;
            };
            let Some(table) = catalog.tables.get(&start) else {
                continue;
            };
            for target in rule_targets(text, table, catalog) {
                let mut path = vec![start];
                if let Some((code, message)) = walk(target, &mut path, &edges) {
                    errors.push(err(
                        format!("tables.{key}.rules.{}", op.as_str()),
                        code,
                        message,
                    ));
                }
            }
        }
    }
}

/// The definition as the API shows it: rules with current field names.
pub fn display(def: &SetDefinition, tables: &HashMap<TableId, TableDef>) -> SetDefinition {
    let mut out = def.clone();
    for (key, grant) in &mut out.tables {
        let Some(table) = key.parse::<TableId>().ok().and_then(|id| tables.get(&id)) else {
            continue;
        };
        for op in Op::ALL {
            if let Some(text) = grant.rules.get_mut(op)
                && let Ok(expr) = rampart_rules::parse(text)
            {
                *text = translate_rule(&expr, table, tables, false).to_string();
            }
        }
    }
    out
}

/// The fields stored rules compare with `=` or `in` at the top of a disjunct: each gets a
/// `(field, id)` index so its branch of a list is an index range scan.
pub fn rule_index_fields(
    def: &SetDefinition,
    tables: &HashMap<TableId, TableDef>,
    attributes: &[AttributeDef],
) -> Vec<(TableId, FieldId)> {
    use rampart_rules::Pred;
    use rampart_rules::ast::CmpOp;
    use rampart_rules::check::Col;
    fn walk(p: &Pred, out: &mut Vec<FieldId>) {
        match p {
            Pred::Or(ps) | Pred::And(ps) => ps.iter().for_each(|q| walk(q, out)),
            Pred::Cmp {
                col: Col::Field(f),
                op: CmpOp::Eq,
                ..
            }
            | Pred::InList {
                col: Col::Field(f), ..
            }
            | Pred::InContext {
                col: Col::Field(f), ..
            } => out.push(f.id),
            _ => {}
        }
    }
    let lookup = |id: TableId| tables.get(&id).cloned();
    let scope = Scope {
        tables: &lookup,
        readable: None,
        attributes,
        rule: true,
    };
    let mut out = Vec::new();
    for (key, grant) in &def.tables {
        let Some(table) = key.parse::<TableId>().ok().and_then(|id| tables.get(&id)) else {
            continue;
        };
        for op in Op::ALL {
            let Some(text) = grant.rules.get(op) else {
                continue;
            };
            let Ok(expr) = rampart_rules::parse(text) else {
                continue;
            };
            let Ok(pred) = rampart_rules::check(&expr, table, &scope, "rule") else {
                continue;
            };
            let mut fields = Vec::new();
            walk(&pred, &mut fields);
            out.extend(fields.into_iter().map(|f| (table.id, f)));
        }
    }
    out.sort();
    out.dedup();
    out
}
