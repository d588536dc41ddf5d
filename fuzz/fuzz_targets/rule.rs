//! Fuzzes the rule language end to end: any text goes through the parser, the type checker
//! (with link traversal, `access via` and user attributes in scope) and both SQL compilers,
//! and printing a parsed rule must parse back to the same tree. Nothing may panic.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use rampart_core::field::{FieldKind, FieldType};
use rampart_core::{FieldDef, FieldId, ProjectId, TableDef, TableId, UserId};
use rampart_rules::check::{AttrValue, AttributeDef, Scope};
use rampart_rules::{Context, UserContext};
use rampart_sql::Dialect;

fn field(name: &str, ty: FieldType, n: u32) -> FieldDef {
    FieldDef {
        id: FieldId::generate(),
        name: name.into(),
        field_type: ty,
        required: false,
        unique: false,
        indexed: false,
        default: None,
        column: format!("c{n}"),
        // One field is encrypted with a blind index, so its compile path is fuzzed too.
        encrypted: n == 2,
        blind_index: (n == 2).then_some(1),
    }
}

fn ty(kind: FieldKind, options: Option<serde_json::Value>) -> FieldType {
    FieldType::from_parts(kind, options).unwrap_or(FieldType::Boolean)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let folders = TableDef {
        id: TableId::generate(),
        project_id: ProjectId::generate(),
        name: "folders".into(),
        storage: "t2".into(),
        schema_version: 1,
        fields: vec![field("team", ty(FieldKind::Text, None), 10)],
    };
    let docs = TableDef {
        id: TableId::generate(),
        project_id: folders.project_id,
        name: "docs".into(),
        storage: "t1".into(),
        schema_version: 1,
        fields: vec![
            field("title", ty(FieldKind::Text, None), 1),
            field("level", ty(FieldKind::Integer, None), 2),
            field("price", ty(FieldKind::Decimal, None), 3),
            field("public", ty(FieldKind::Boolean, None), 4),
            field("due", ty(FieldKind::Date, None), 5),
            field("at", ty(FieldKind::Datetime, None), 6),
            field("tags", ty(FieldKind::MultiSelect, Some(serde_json::json!({"choices": ["a", "b"]}))), 7),
            field("who", ty(FieldKind::User, None), 8),
            field("folder", ty(FieldKind::Link, Some(serde_json::json!({"table_id": folders.id}))), 9),
        ],
    };
    let Ok(expr) = rampart_rules::parse(text) else { return };
    let reparsed = rampart_rules::parse(&expr.to_string()).expect("a printed tree parses");
    assert_eq!(reparsed.without_positions(), expr.without_positions());
    let attributes = [AttributeDef { name: "team".into(), multiple: false }, AttributeDef { name: "teams".into(), multiple: true }];
    let lookup = |id: TableId| (id == folders.id).then(|| folders.clone());
    let scope = Scope { tables: &lookup, readable: None, attributes: &attributes, rule: true };
    let Ok(pred) = rampart_rules::check(&expr, &docs, &scope, "rule") else { return };
    let pred = pred.resolve_access(1, &mut |_, _| Some((folders.clone(), rampart_rules::Pred::Const(true))));
    let ctx = Context {
        user: UserContext {
            id: UserId::generate(),
            email: "a@b.c".into(),
            role: "member".into(),
            groups: vec!["g".into()],
            attributes: BTreeMap::from([("team".into(), AttrValue::One("red".into()))]),
        },
    };
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let sql = rampart_rules::compile(&pred, &ctx, dialect).expect("compiles").build();
        assert!(!sql.text.contains(text) || text.len() < 3, "input text reached SQL: {text:?}");
    }
});
