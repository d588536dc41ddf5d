//! Parse + type-check + compile of a typical filter.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_core::field::{FieldType, IntegerOptions, SelectOptions, TextOptions};
use rampart_core::{FieldDef, FieldId, GlobalRole, ProjectId, TableDef, TableId, UserId};
use rampart_rules::check::Scope;
use rampart_rules::{Context, UserContext, check, compile, parse};
use rampart_sql::Dialect;

fn table() -> TableDef {
    let field = |name: &str, ty: FieldType, n: usize| FieldDef {
        id: FieldId::generate(),
        name: name.into(),
        field_type: ty,
        required: false,
        unique: false,
        indexed: false,
        default: None,
        column: format!("c{n}"),
        encrypted: false,
        blind_index: None,
    };
    TableDef {
        id: TableId::generate(),
        project_id: ProjectId::generate(),
        name: "tasks".into(),
        storage: "t1".into(),
        schema_version: 1,
        fields: vec![
            field(
                "status",
                FieldType::SingleSelect(SelectOptions {
                    choices: vec!["open".into(), "done".into()],
                }),
                1,
            ),
            field("priority", FieldType::Integer(IntegerOptions::default()), 2),
            field("assignee", FieldType::User, 3),
            field("title", FieldType::Text(TextOptions::default()), 4),
        ],
        primary_field: None,
    }
}

fn bench(c: &mut Criterion) {
    let t = table();
    let ctx = Context {
        user: UserContext {
            id: UserId::generate(),
            email: "a@b.c".into(),
            role: GlobalRole::Member.as_str().into(),
            groups: vec![],
            attributes: Default::default(),
        },
    };
    let text = r#"status = "open" && (priority >= 3 || assignee = @user.id) && title ~ "report""#;
    c.bench_function("parse_check_compile_typical_filter", |b| {
        b.iter(|| {
            let e = parse(std::hint::black_box(text)).unwrap();
            let scope = Scope {
                tables: &|_| None,
                readable: None,
                attributes: &[],
                rule: false,
            };
            let p = check(&e, &t, &scope, "filter").unwrap();
            compile(&p, &ctx, Dialect::Postgres).unwrap().build()
        });
    });
    c.bench_function("parse_only_typical_filter", |b| {
        b.iter(|| parse(std::hint::black_box(text)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
