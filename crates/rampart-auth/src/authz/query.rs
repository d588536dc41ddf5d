//! What a caller may filter and sort a table's records by: the columns every read grant of
//! theirs reads, on the table itself and on each table a link leads to, and, through a link,
//! only the linked records they may read. Every caller-written field name (filters, sorts,
//! counts, simulated lists) is checked here, against the table the name is about.
//!
//! A column the caller may not use is unknown, with the very answer a column that does not
//! exist gets, decided before any other property of it (type, encryption) is looked at: the
//! answer must not tell a hidden field from a missing one.

use std::collections::HashMap;
use std::sync::Arc;

use rampart_core::{FieldDef, FieldType, Invalid, TableId};
use rampart_rules::check::{Col, Scope};
use rampart_rules::sort::{Sort, parse_sort};
use rampart_rules::{Expr, Pred};
use rampart_store::{StoreError, Tx};

use super::access::{TableAccess, UserFacts};
use super::cache::AccessCache;
use super::definition::Op;

/// One caller's view of a table and of the tables its filter reaches through links.
#[derive(Debug, Clone)]
pub struct QueryScope {
    main: Arc<TableAccess>,
    facts: Arc<UserFacts>,
    /// The caller's access to each table a filter's link path leads to (absent: no such
    /// table any more, which nothing may be read from).
    linked: HashMap<TableId, Arc<TableAccess>>,
}

/// Whether `access` lets the caller use `col` in filters and sorts.
fn usable(access: &TableAccess, col: &Col) -> bool {
    access.allows(Op::Read)
        && match col {
            Col::System(_) => true,
            Col::Field(f) => access.filterable(f.id),
        }
}

/// The first names of the paths in `expr` that continue through a link (`pay` in
/// `pay.salary > 10`).
fn link_names(expr: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    let mut first: Option<String> = None;
    expr.map_names(&mut |depth, name| {
        match depth {
            0 => first = Some(name.to_owned()),
            _ => {
                if let Some(link) = first.take() {
                    out.push(link);
                }
            }
        }
        None
    });
    out.sort();
    out.dedup();
    out
}

impl QueryScope {
    /// The caller's view of `main`, loading their access to every table that `filter` names
    /// through one of `main`'s link fields.
    pub async fn load(
        tx: &mut Tx,
        cache: &AccessCache,
        facts: Arc<UserFacts>,
        main: Arc<TableAccess>,
        filter: Option<&Expr>,
    ) -> Result<Self, StoreError> {
        let mut linked = HashMap::new();
        let names = filter.map(link_names).unwrap_or_default();
        for name in &names {
            let field = match name.strip_prefix('#') {
                Some(id) => id.parse().ok().and_then(|id| main.table.field(id)),
                None => main.table.field_by_name(name),
            };
            let Some(FieldDef {
                field_type: FieldType::Link(o),
                ..
            }) = field
            else {
                continue;
            };
            if linked.contains_key(&o.table_id) || o.table_id == main.table.id {
                continue;
            }
            let (_, access) = cache.get(tx, &facts.principal, o.table_id).await?;
            if let Some(access) = access {
                linked.insert(o.table_id, access);
            }
        }
        Ok(Self {
            main,
            facts,
            linked,
        })
    }

    fn access(&self, table: TableId) -> Option<&TableAccess> {
        if table == self.main.table.id {
            Some(&self.main)
        } else {
            self.linked.get(&table).map(AsRef::as_ref)
        }
    }

    /// Whether the caller may use `col` of `table` in a filter or sort.
    pub fn readable(&self, table: TableId, col: &Col) -> bool {
        self.access(table).is_some_and(|a| usable(a, col))
    }

    /// Type-checks a filter as this caller may apply it: only columns they may use, and
    /// inside each link only the linked records they may read.
    pub fn check_filter(&self, expr: &Expr) -> Result<Pred, Invalid> {
        let tables = |id: TableId| self.access(id).map(|a| a.table.clone());
        let readable = |table: TableId, col: &Col| self.readable(table, col);
        let scope = Scope {
            tables: &tables,
            readable: Some(&readable),
            attributes: &self.facts.attributes,
            rule: false,
        };
        let pred = rampart_rules::check(expr, &self.main.table, &scope, "filter")?;
        Ok(pred.restrict_links(&|target| match self.access(target) {
            Some(a) => a.predicate(Op::Read),
            None => Some(Pred::Const(false)),
        }))
    }

    /// Parses a sort as this caller may apply it.
    pub fn parse_sort(&self, text: &str) -> Result<Sort, Invalid> {
        let readable = |f: &FieldDef| self.main.filterable(f.id);
        parse_sort(&self.main.table, text, Some(&readable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_are_the_first_segments_of_paths_through_links() {
        let e = rampart_rules::parse(
            "pay.salary > 1 && title = \"a\" || !(pay.owner = @user.id) || `#7`.x = 1",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(link_names(&e), vec!["#7".to_owned(), "pay".to_owned()]);
    }
}
