//! What one caller may do with one table's records: the grants they hold (their project role
//! as a built-in set, and their permission sets, directly or through groups), with each set's
//! rules type-checked against the current schema and `access via` resolved into the caller's
//! own predicates on the linked tables.
//!
//! Permission sets combine per record (DESIGN.md section 7): a record is readable if any
//! read grant's rule admits it; a field appears on a record only if a grant that admits that
//! record reads that field; filtering and sorting need read on the field in every read grant.

use std::collections::{BTreeMap, HashMap};

use futures::future::BoxFuture;
use rampart_core::field::FieldType;
use rampart_core::{FieldId, ProjectRole, TableDef, TableId};
use rampart_rules::check::{AttrValue, AttributeDef, Scope};
use rampart_rules::{Context, Pred, UserContext};
use rampart_store::permission_sets::SetId;
use rampart_store::schema::load_table;
use rampart_store::{StoreError, Tx, groups, identity};

use super::definition::{FieldAccess, MAX_ACCESS_DEPTH, Op, SetDefinition, TableGrantDef};
use crate::authn::Principal;

/// The caller as rules see them, loaded once per request.
#[derive(Debug, Clone)]
pub struct UserFacts {
    pub principal: Principal,
    pub ctx: Context,
    pub attributes: Vec<AttributeDef>,
}

/// Loads the caller's groups and attributes.
pub async fn user_facts(tx: &mut Tx, principal: &Principal) -> Result<UserFacts, StoreError> {
    let groups = groups::groups_of(tx, principal.user.id)
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect();
    let defs = identity::attribute_defs(tx).await?;
    let values = identity::user_attributes(tx, principal.user.id).await?;
    let mut attributes = BTreeMap::new();
    for d in &defs {
        let v = match values.get(&d.name) {
            Some(serde_json::Value::String(s)) => Some(AttrValue::One(s.clone())),
            Some(serde_json::Value::Array(items)) => Some(AttrValue::Many(
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
            )),
            _ => None,
        };
        if let Some(v) = v {
            attributes.insert(d.name.clone(), v);
        }
    }
    Ok(UserFacts {
        principal: principal.clone(),
        ctx: Context {
            user: UserContext {
                id: principal.user.id,
                email: principal.user.email.clone(),
                role: principal.role().as_str().to_owned(),
                groups,
                attributes,
            },
        },
        attributes: defs
            .into_iter()
            .map(|d| AttributeDef {
                name: d.name,
                multiple: d.multiple,
            })
            .collect(),
    })
}

/// Where a grant comes from (for `explain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantSource {
    Role(ProjectRole),
    Set { id: SetId, name: String },
}

impl GrantSource {
    pub fn describe(&self) -> String {
        match self {
            Self::Role(r) => format!("project role {}", r.as_str()),
            Self::Set { name, .. } => format!("permission set {name:?}"),
        }
    }
}

/// One grant on one table.
#[derive(Debug, Clone)]
pub struct Grant {
    pub source: GrantSource,
    pub def: TableGrantDef,
    /// Resolved rule per operation; absent means every record.
    pub rules: BTreeMap<Op, Pred>,
    /// The rule text as stored, for `explain`.
    pub rule_text: BTreeMap<Op, String>,
}

impl Grant {
    pub fn reads_field(&self, field: FieldId) -> bool {
        self.def.read && self.def.field_access(field).reads()
    }

    pub fn writes_field(&self, field: FieldId) -> bool {
        self.def.field_access(field).writes()
    }
}

/// A caller's access to one table.
#[derive(Debug, Clone)]
pub struct TableAccess {
    pub table: TableDef,
    pub role: Option<ProjectRole>,
    pub grants: Vec<Grant>,
}

impl TableAccess {
    /// Whether the caller may know the table exists.
    pub fn visible(&self) -> bool {
        self.grants
            .iter()
            .any(|g| Op::ALL.iter().any(|op| g.def.allows(*op)))
    }

    pub fn allows(&self, op: Op) -> bool {
        self.grants.iter().any(|g| g.def.allows(op))
    }

    pub fn grants_for(&self, op: Op) -> impl Iterator<Item = &Grant> {
        self.grants.iter().filter(move |g| g.def.allows(op))
    }

    /// The records the caller may `op`: `None` for all of them.
    pub fn predicate(&self, op: Op) -> Option<Pred> {
        let mut parts = Vec::new();
        for g in self.grants_for(op) {
            match g.rules.get(&op) {
                None => return None,
                Some(p) => parts.push(p.clone()),
            }
        }
        Some(match parts.len() {
            0 => Pred::Const(false),
            1 => parts.remove(0),
            _ => Pred::Or(parts),
        })
    }

    /// The caller's read predicate split into its 2 to 4 top-level disjuncts, when it is an
    /// OR: by id, each branch is one index range scan (see `ListQuery::branches`). Branches
    /// may overlap; the list merges them by id and keeps one copy of each record. (Making
    /// them disjoint with `AND NOT (earlier branches)` turns a pure index range into a
    /// range plus a residual test that can walk the whole range when few rows pass it.)
    pub fn read_branches(&self) -> Option<Vec<Pred>> {
        fn flatten(p: Pred, out: &mut Vec<Pred>) {
            match p {
                Pred::Or(parts) => parts.into_iter().for_each(|q| flatten(q, out)),
                other => out.push(other),
            }
        }
        let mut parts = Vec::new();
        flatten(self.predicate(Op::Read)?, &mut parts);
        (2..=4).contains(&parts.len()).then_some(parts)
    }

    /// Whether a field may be used in filters and sorts: every read grant reads it.
    pub fn filterable(&self, field: FieldId) -> bool {
        let mut readers = self.grants_for(Op::Read).peekable();
        readers.peek().is_some() && readers.all(|g| g.reads_field(field))
    }

    /// Whether every read grant reads every field the same way, so that one projection
    /// serves every record.
    pub fn uniform_fields(&self) -> bool {
        let readers: Vec<&Grant> = self.grants_for(Op::Read).collect();
        self.table.fields.iter().all(|f| {
            let first = readers.first().is_some_and(|g| g.reads_field(f.id));
            readers.iter().all(|g| g.reads_field(f.id) == first)
        })
    }

    /// Whether `owner` may be changed under the grants in `admitting`.
    pub fn writes_owner(admitting: &[&Grant]) -> bool {
        admitting.iter().any(|g| g.def.owner_access().writes())
    }
}

/// The caller's access to a table, or `None` when the table does not exist.
pub async fn table_access(
    tx: &mut Tx,
    facts: &UserFacts,
    table: TableId,
) -> Result<Option<TableAccess>, StoreError> {
    load(tx, facts, table, MAX_ACCESS_DEPTH).await
}

fn role_grant(role: ProjectRole) -> Grant {
    let writes = role >= ProjectRole::Editor;
    Grant {
        source: GrantSource::Role(role),
        def: TableGrantDef {
            create: writes,
            read: true,
            update: writes,
            delete: writes,
            default_access: if writes {
                FieldAccess::Write
            } else {
                FieldAccess::Read
            },
            // Project admins and owners may give records to someone else.
            fields: if role >= ProjectRole::Admin {
                BTreeMap::from([("owner".to_owned(), FieldAccess::Write)])
            } else {
                BTreeMap::new()
            },
            rules: Default::default(),
        },
        rules: BTreeMap::new(),
        rule_text: BTreeMap::new(),
    }
}

fn load<'a>(
    tx: &'a mut Tx,
    facts: &'a UserFacts,
    table_id: TableId,
    depth: usize,
) -> BoxFuture<'a, Result<Option<TableAccess>, StoreError>> {
    Box::pin(async move {
        let Some(table) = load_table(tx, table_id).await? else {
            return Ok(None);
        };
        let role = super::effective_role(tx, &facts.principal, table.project_id).await?;
        let mut grants: Vec<Grant> = role.map(role_grant).into_iter().collect();
        let sets = super::held_sets(tx, &facts.principal, table.project_id).await?;
        // Tables the rules may reach through links.
        let mut linked: HashMap<TableId, TableDef> = HashMap::new();
        for f in &table.fields {
            if let FieldType::Link(o) = &f.field_type
                && let Some(t) = load_table(tx, o.table_id).await?
            {
                linked.insert(t.id, t);
            }
        }
        for set in sets {
            let def = SetDefinition::from_stored(&set.definition);
            let Some(mut grant) = def.grant(table.id).cloned() else {
                continue;
            };
            if facts.principal.scope.read_only {
                grant = grant.read_only();
            }
            let mut rules = BTreeMap::new();
            let mut rule_text = BTreeMap::new();
            for op in Op::ALL {
                let Some(text) = grant.rules.get(op) else {
                    continue;
                };
                rule_text.insert(op, text.clone());
                let lookup = |id: TableId| linked.get(&id).cloned();
                let scope = Scope {
                    tables: &lookup,
                    readable: None,
                    attributes: &facts.attributes,
                    rule: true,
                };
                // A rule that no longer parses or type-checks (a field it names was deleted)
                // denies: authorization fails closed.
                let pred = rampart_rules::parse(text)
                    .ok()
                    .and_then(|e| rampart_rules::check(&e, &table, &scope, "rule").ok())
                    .unwrap_or(Pred::Const(false));
                rules.insert(op, pred);
            }
            grants.push(Grant {
                source: GrantSource::Set {
                    id: set.id,
                    name: set.name.clone(),
                },
                def: grant,
                rules,
                rule_text,
            });
        }
        // Resolve `access via` into the caller's own predicates on the linked tables.
        for grant in &mut grants {
            let ops: Vec<Op> = grant.rules.keys().copied().collect();
            for op in ops {
                let mut targets = Vec::new();
                grant.rules[&op].access_targets(&mut targets);
                if targets.is_empty() {
                    continue;
                }
                let mut resolved: HashMap<TableId, (TableDef, Pred)> = HashMap::new();
                if depth > 0 {
                    for target in targets {
                        if resolved.contains_key(&target) {
                            continue;
                        }
                        if let Some(access) = load(tx, facts, target, depth - 1).await? {
                            let pred = access.predicate(op).unwrap_or(Pred::Const(true));
                            resolved.insert(target, (access.table, pred));
                        }
                    }
                }
                let rule =
                    grant.rules[&op].resolve_access(1, &mut |t, _| resolved.get(&t).cloned());
                grant.rules.insert(op, rule);
            }
        }
        Ok(Some(TableAccess {
            table,
            role,
            grants,
        }))
    })
}

/// Why a write is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteDenied {
    /// No grant allows the operation on this record.
    Operation(Op),
    /// The named field may not be written.
    Field(String),
}

impl TableAccess {
    /// The SQL predicate of the records the caller may `op` (`None`: all of them).
    pub fn predicate_sql(
        &self,
        op: Op,
        facts: &UserFacts,
        dialect: rampart_sql::Dialect,
    ) -> Result<Option<rampart_sql::Sql>, StoreError> {
        self.predicate(op)
            .map(|p| {
                rampart_rules::compile(&p, &facts.ctx, dialect)
                    .map_err(|e| StoreError::internal(e.to_string()))
            })
            .transpose()
    }

    /// One predicate per read grant, answered per record to decide which fields it shows;
    /// empty when every read grant reads the same fields.
    pub fn read_flags(
        &self,
        facts: &UserFacts,
        dialect: rampart_sql::Dialect,
    ) -> Result<Vec<rampart_sql::Sql>, StoreError> {
        if self.uniform_fields() {
            return Ok(Vec::new());
        }
        self.grants_for(Op::Read)
            .map(|g| {
                let p = g.rules.get(&Op::Read).cloned().unwrap_or(Pred::Const(true));
                rampart_rules::compile(&p, &facts.ctx, dialect)
                    .map_err(|e| StoreError::internal(e.to_string()))
            })
            .collect()
    }

    /// The fields a record shows, given its answers to [`Self::read_flags`].
    pub fn visible_fields(&self, flags: &[bool]) -> std::collections::BTreeSet<FieldId> {
        let readers: Vec<&Grant> = self.grants_for(Op::Read).collect();
        self.table
            .fields
            .iter()
            .filter(|f| {
                if flags.is_empty() {
                    readers.first().is_some_and(|g| g.reads_field(f.id))
                } else {
                    readers
                        .iter()
                        .zip(flags)
                        .any(|(g, on)| *on && g.reads_field(f.id))
                }
            })
            .map(|f| f.id)
            .collect()
    }

    /// Whether some read grant reads the field (the caller may know it exists).
    pub fn knows_field(&self, field: FieldId) -> bool {
        self.grants_for(Op::Read).any(|g| g.reads_field(field))
            || self
                .grants
                .iter()
                .any(|g| (g.def.create || g.def.update) && g.writes_field(field))
    }

    /// The grants allowing `op` whose rule admits the record, given one flag per grant of
    /// [`Self::grants_for`]`(op)` in order.
    pub fn admitting(&self, op: Op, flags: &[bool]) -> Vec<&Grant> {
        self.grants_for(op)
            .zip(flags)
            .filter(|(_, on)| **on)
            .map(|(g, _)| g)
            .collect()
    }

    /// One rule per grant allowing `op` (`TRUE` where the grant has none), in order.
    pub fn op_rules_sql(
        &self,
        op: Op,
        facts: &UserFacts,
        dialect: rampart_sql::Dialect,
    ) -> Result<Vec<rampart_sql::Sql>, StoreError> {
        self.grants_for(op)
            .map(|g| {
                let p = g.rules.get(&op).cloned().unwrap_or(Pred::Const(true));
                rampart_rules::compile(&p, &facts.ctx, dialect)
                    .map_err(|e| StoreError::internal(e.to_string()))
            })
            .collect()
    }

    /// Checks that the grants admitting a write allow every written field (and `owner` when
    /// it changes).
    pub fn check_writes(
        &self,
        op: Op,
        admitting: &[&Grant],
        fields: &[FieldId],
        owner: bool,
    ) -> Result<(), WriteDenied> {
        if admitting.is_empty() {
            return Err(WriteDenied::Operation(op));
        }
        for f in fields {
            if !admitting.iter().any(|g| g.writes_field(*f)) {
                let name = self
                    .table
                    .field(*f)
                    .map_or_else(|| f.to_string(), |d| d.name.clone());
                return Err(WriteDenied::Field(name));
            }
        }
        if owner && !Self::writes_owner(admitting) {
            return Err(WriteDenied::Field("owner".into()));
        }
        Ok(())
    }
}
