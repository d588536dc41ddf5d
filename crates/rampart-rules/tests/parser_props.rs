//! Property tests of the parser: printing a tree and parsing it back gives the same tree, and
//! no input makes the parser panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rampart_rules::ast::{CmpOp, Expr, Lit, Operand};
use rampart_rules::parse;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_]{0,8}",
        Just("Due date".to_owned()),
        Just("in".to_owned()),
        Just("true".to_owned()),
        Just("título".to_owned()),
        Just("a-b".to_owned()),
    ]
}

fn lit() -> impl Strategy<Value = Lit> {
    prop_oneof![
        "[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f`]{0,12}".prop_map(Lit::Str),
        any::<i64>().prop_map(|n| Lit::Num(n.to_string())),
        (any::<i32>(), 0u32..1000).prop_map(|(i, f)| Lit::Num(format!("{i}.{f}"))),
        any::<bool>().prop_map(Lit::Bool),
        Just(Lit::Null),
    ]
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        prop::collection::vec(name(), 1..=2)
            .prop_map(|segments| Operand::Path { segments, pos: 0 }),
        Just(Operand::Context {
            name: "user".into(),
            attr: Some("id".into()),
            pos: 0
        }),
        lit().prop_map(|lit| Operand::Lit { lit, pos: 0 }),
        prop::collection::vec(lit(), 0..4).prop_map(|items| Operand::List {
            items: items.into_iter().map(|l| (l, 0)).collect(),
            pos: 0
        }),
    ]
}

fn op() -> impl Strategy<Value = CmpOp> {
    prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Ne),
        Just(CmpOp::Lt),
        Just(CmpOp::Le),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge),
        Just(CmpOp::Contains),
        Just(CmpOp::NotContains),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        (operand(), op(), operand()).prop_map(|(left, op, right)| Expr::Cmp {
            left,
            op,
            right,
            pos: 0
        }),
        (operand(), operand()).prop_map(|(needle, haystack)| Expr::In {
            needle,
            haystack,
            pos: 0
        }),
        operand().prop_map(Expr::Bare),
    ];
    leaf.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|e| Expr::Not(Box::new(e), 0)),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn printing_then_parsing_gives_the_same_tree(e in expr()) {
        let text = e.to_string();
        let parsed = parse(&text).map_err(|err| TestCaseError::fail(format!("{text}: {err}")))?;
        prop_assert_eq!(parsed.without_positions(), e, "{}", text);
    }

    #[test]
    fn the_parser_never_panics(text in "\\PC{0,80}") {
        let _ = parse(&text);
    }

    #[test]
    fn errors_point_inside_the_input(text in "[a-z =!<>~&|()\"\\[\\],.@0-9]{0,40}") {
        if let Err(e) = parse(&text) {
            prop_assert!(e.position <= text.chars().count(), "{} > len of {:?}", e.position, text);
        }
    }
}
