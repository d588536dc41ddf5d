//! A project's own OpenAPI document: the record endpoints of each table the caller may see,
//! with request and response bodies typed by the table's fields, as far as the caller's
//! grants reach (fields they cannot read are absent; bodies list only fields they may write;
//! operations they may not perform are left out). Code generators and fuzzers get the same
//! rules the handlers apply, so a value that fits the schema is a value the API accepts.

use rampart_auth::authz::access::TableAccess;
use rampart_auth::authz::definition::Op;
use rampart_core::decimal::{MAX_DIGITS, MAX_SCALE};
use rampart_core::field::{FieldType, LONG_TEXT_LIMIT, TEXT_DEFAULT_MAX};
use rampart_core::value::{JSON_LIMIT_BYTES, MAX_LINKS, URL_LIMIT};
use rampart_core::{FieldDef, TableDef};
use serde_json::{Map, Value as Json, json};

use crate::input_schemas::email_pattern;

/// The JSON Schema of a non-null value of a field of type `ty`, as `Value::from_json`
/// accepts it.
pub fn value_schema(ty: &FieldType) -> Json {
    match ty {
        FieldType::Text(o) => json!({
            "type": "string",
            "maxLength": o.max_length.unwrap_or(TEXT_DEFAULT_MAX),
            "pattern": r"^[^\x00\n\r]*$",
        }),
        FieldType::LongText => json!({
            "type": "string",
            "maxLength": LONG_TEXT_LIMIT,
            "pattern": r"^[^\x00]*$",
        }),
        FieldType::Integer(o) => json!({
            "type": "integer",
            "minimum": o.min.unwrap_or(i64::MIN),
            "maximum": o.max.unwrap_or(i64::MAX),
        }),
        FieldType::Decimal(o) => decimal_schema(o.scale),
        FieldType::Boolean => json!({"type": "boolean"}),
        FieldType::Date => json!({
            "type": "string",
            "format": "date",
            "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        }),
        FieldType::Datetime => json!({
            "type": "string",
            "format": "date-time",
            "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$",
            "description": "RFC 3339 with an offset, at most microseconds",
        }),
        FieldType::SingleSelect(o) => json!({"type": "string", "enum": o.choices}),
        FieldType::MultiSelect(o) => json!({
            "type": "array",
            "items": {"type": "string", "enum": o.choices},
            "uniqueItems": true,
        }),
        FieldType::Email => json!({
            "type": "string",
            "pattern": email_pattern(),
            "minLength": 3,
            "maxLength": 254,
        }),
        FieldType::Url => json!({
            "type": "string",
            "format": "uri",
            "pattern": r"^[hH][tT][tT][pP][sS]?://[^/?#\s]",
            "maxLength": URL_LIMIT / 4,
            "description": "an absolute http or https URL",
        }),
        FieldType::Json => json!({
            "description": format!("any JSON value without NUL characters, at most {JSON_LIMIT_BYTES} bytes as compact text"),
        }),
        FieldType::Link(o) if o.multiple => json!({
            "type": "array",
            "items": {"type": "string", "format": "uuid"},
            "uniqueItems": true,
            "maxItems": MAX_LINKS,
            // Not the target table's id: the caller may not be allowed to know that table.
            "description": "ids of linked records",
        }),
        FieldType::Link(_) => json!({
            "type": "string",
            "format": "uuid",
            "description": "the id of a linked record",
        }),
        FieldType::User => json!({"type": "string", "format": "uuid", "description": "a user id"}),
    }
}

/// Decimals travel as strings (exact) or JSON numbers, with at most `MAX_DIGITS - scale`
/// digits before the point (leading zeros aside) and `scale` after it (trailing zeros aside).
fn decimal_schema(scale: u8) -> Json {
    let scale = scale.min(MAX_SCALE);
    let int_digits = u32::from(MAX_DIGITS - scale);
    let fraction = if scale == 0 {
        r"\.0+".to_owned()
    } else {
        format!(r"\.[0-9]{{1,{scale}}}0*")
    };
    let bound = 10_i64.pow(int_digits) - 1;
    json!({
        "type": ["string", "number"],
        "pattern": format!("^[+-]?(?:0*[0-9]{{1,{int_digits}}}(?:{fraction})?|{fraction})$"),
        "minimum": -bound,
        "maximum": bound,
        "multipleOf": 10_f64.powi(-i32::from(scale)),
        "description": format!("a decimal with at most {scale} digits after the point; a string keeps it exact"),
    })
}

/// What a read returns for a field: the value or nothing. Multi-valued fields read as empty
/// lists rather than null.
fn read_schema(field: &FieldDef) -> Json {
    match &field.field_type {
        FieldType::MultiSelect(_) => value_schema(&field.field_type),
        FieldType::Link(o) if o.multiple => value_schema(&field.field_type),
        ty => or_null(value_schema(ty)),
    }
}

fn or_null(schema: Json) -> Json {
    json!({"anyOf": [schema, {"type": "null"}]})
}

/// The schema of what a caller may write to a field (null clears it unless it is required).
fn write_schema(field: &FieldDef) -> Json {
    let value = value_schema(&field.field_type);
    if field.required {
        value
    } else {
        or_null(value)
    }
}

fn component_name(table: &TableDef) -> String {
    format!("t{}", table.id.to_string().replace('-', ""))
}

fn problem_responses() -> Map<String, Json> {
    let problem =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    let mut out = Map::new();
    out.insert(
        "4XX".into(),
        json!({"description": "A problem with the request", "content": problem}),
    );
    out.insert(
        "5XX".into(),
        json!({"description": "A problem on the server", "content": problem}),
    );
    out
}

fn operation(summary: String, params: Vec<Json>, body: Option<Json>, ok: (&str, Json)) -> Json {
    let mut responses = problem_responses();
    responses.insert(ok.0.to_owned(), ok.1);
    let mut op = json!({
        "summary": summary,
        "parameters": params,
        "responses": responses,
        "security": [{"session": []}, {"token": []}],
    });
    if let Some(body) = body {
        op["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": body}}});
    }
    op
}

fn query(name: &str, required: bool, schema: Json, description: &str) -> Json {
    json!({"name": name, "in": "query", "required": required, "schema": schema, "description": description})
}

fn record_id_param() -> Json {
    json!({"name": "record_id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}})
}

/// The paths and schemas of one table, as far as `access` reaches.
fn describe_table(
    access: &TableAccess,
    paths: &mut Map<String, Json>,
    schemas: &mut Map<String, Json>,
) {
    let table = &access.table;
    let name = component_name(table);
    let readable: Vec<&FieldDef> = table
        .fields
        .iter()
        .filter(|f| access.knows_field(f.id))
        .collect();
    let writable = |op: Op| -> Vec<&FieldDef> {
        table
            .fields
            .iter()
            .filter(|f| access.grants_for(op).any(|g| g.writes_field(f.id)))
            .collect()
    };
    let props = |fields: &[&FieldDef], schema: fn(&FieldDef) -> Json| -> Map<String, Json> {
        fields.iter().map(|f| (f.name.clone(), schema(f))).collect()
    };
    let owner_writable =
        |op: Op| TableAccess::writes_owner(&access.grants_for(op).collect::<Vec<_>>());

    let timestamp = json!({"type": "string", "format": "date-time"});
    let uuid_or_null = json!({"anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]});
    schemas.insert(
        format!("{name}_record"),
        json!({
            "title": format!("A record of {}", table.name),
            "type": "object",
            "required": ["id", "created_at", "updated_at", "created_by", "owner", "version", "fields"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "created_at": timestamp,
                "updated_at": timestamp,
                "created_by": uuid_or_null,
                "owner": uuid_or_null,
                "version": {"type": "integer", "minimum": 1},
                // A field the caller may not read on a record is left out, so none is required.
                "fields": {"type": "object", "properties": props(&readable, read_schema), "additionalProperties": false},
            },
        }),
    );
    let record_ref = json!({"$ref": format!("#/components/schemas/{name}_record")});

    let body = |op: Op, with_required: bool| -> Json {
        let fields = writable(op);
        let required: Vec<&str> = if with_required {
            fields
                .iter()
                .filter(|f| f.required && f.default.is_none())
                .map(|f| f.name.as_str())
                .collect()
        } else {
            Vec::new()
        };
        let mut fields_schema = json!({
            "type": "object",
            "properties": props(&fields, write_schema),
            "additionalProperties": false,
        });
        if !required.is_empty() {
            fields_schema["required"] = json!(required);
        }
        let mut properties = Map::new();
        properties.insert("fields".into(), fields_schema);
        if owner_writable(op) {
            properties.insert(
                "owner".into(),
                or_null(json!({"type": "string", "format": "uuid"})),
            );
        }
        let mut required_top = vec![];
        if with_required && !required.is_empty() {
            required_top.push("fields");
        }
        if op == Op::Update {
            properties.insert(
                "version".into(),
                json!({"type": "integer", "minimum": 1, "maximum": i64::MAX, "description": "the version the change is based on"}),
            );
            required_top.push("version");
        }
        json!({"type": "object", "properties": properties, "required": required_top, "additionalProperties": false})
    };

    let base = format!("/api/v1/tables/{}/records", table.id);
    let mut collection = Map::new();
    if access.allows(Op::Read) {
        let page = json!({
            "type": "object",
            "required": ["records", "has_more", "next_cursor"],
            "properties": {
                "records": {"type": "array", "items": record_ref},
                "has_more": {"type": "boolean"},
                "next_cursor": {"type": ["string", "null"]},
                "count": {"type": "integer", "minimum": 0},
            },
        });
        collection.insert(
            "get".into(),
            operation(
                format!("Lists records of {}", table.name),
                vec![
                    query("filter", false, json!({"type": "string"}), "an expression over the fields, e.g. `n > 3`"),
                    query("sort", false, json!({"type": "string"}), "comma-separated field names, `-` for descending"),
                    query("limit", false, json!({"type": "integer", "minimum": 1, "maximum": 1000}), "records per page"),
                    query("cursor", false, json!({"type": "string"}), "the previous page's next_cursor"),
                    query("count", false, json!({"type": "string", "enum": ["exact"]}), "count the matching records"),
                ],
                None,
                ("200", json!({"description": "A page of records", "content": {"application/json": {"schema": page}}})),
            ),
        );
    }
    if access.allows(Op::Create) {
        schemas.insert(format!("{name}_create"), body(Op::Create, true));
        collection.insert(
            "post".into(),
            operation(
                format!("Creates a record in {}", table.name),
                vec![],
                Some(json!({"$ref": format!("#/components/schemas/{name}_create")})),
                ("201", json!({"description": "The new record", "content": {"application/json": {"schema": record_ref}}})),
            ),
        );
    }
    if !collection.is_empty() {
        paths.insert(base.clone(), Json::Object(collection));
    }

    let mut item = Map::new();
    if access.allows(Op::Read) {
        item.insert(
            "get".into(),
            operation(
                format!("Reads a record of {}", table.name),
                vec![record_id_param()],
                None,
                ("200", json!({"description": "The record", "content": {"application/json": {"schema": record_ref}}})),
            ),
        );
    }
    if access.allows(Op::Update) {
        schemas.insert(format!("{name}_update"), body(Op::Update, false));
        item.insert(
            "patch".into(),
            operation(
                format!("Changes fields of a record of {}", table.name),
                vec![record_id_param()],
                Some(json!({"$ref": format!("#/components/schemas/{name}_update")})),
                ("200", json!({"description": "The changed record", "content": {"application/json": {"schema": record_ref}}})),
            ),
        );
    }
    if access.allows(Op::Delete) {
        item.insert(
            "delete".into(),
            operation(
                format!("Deletes a record of {}", table.name),
                vec![
                    record_id_param(),
                    query(
                        "version",
                        true,
                        json!({"type": "integer", "minimum": 1, "maximum": i64::MAX}),
                        "the record's current version",
                    ),
                ],
                None,
                ("204", json!({"description": "Deleted"})),
            ),
        );
    }
    if !item.is_empty() {
        paths.insert(format!("{base}/{{record_id}}"), Json::Object(item));
    }
}

/// The document for a project named `project_name`, describing `tables` (the caller's view).
pub fn build(project_name: &str, tables: &[TableAccess]) -> Json {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for access in tables {
        describe_table(access, &mut paths, &mut schemas);
    }
    // The problem document's schemas, as the whole API's document states them.
    if let Some(components) = crate::openapi::document().components.as_ref() {
        for name in ["Problem", "FieldError"] {
            if let Some(schema) = components
                .schemas
                .get(name)
                .and_then(|s| serde_json::to_value(s).ok())
            {
                schemas.insert(name.into(), schema);
            }
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("Rampart project {project_name}"),
            "version": "1",
            "description": "The records of this project's tables as you may use them. Errors are RFC 9457 problem documents.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "bearerFormat": "rpt_"},
                "session": {"type": "apiKey", "in": "cookie", "name": crate::caller::SESSION_COOKIE},
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::Value;
    use rampart_core::field::{DecimalOptions, IntegerOptions, SelectOptions, TextOptions};

    fn accepts(ty: &FieldType, value: Json) -> bool {
        Value::from_json(ty, &value, "f").is_ok()
    }

    #[test]
    fn decimal_pattern_accepts_what_the_type_stores() {
        let ty = FieldType::Decimal(DecimalOptions { scale: 2 });
        let schema = value_schema(&ty);
        let re = regex::Regex::new(schema["pattern"].as_str().unwrap_or_default()).unwrap();
        for ok in [
            "0",
            "-1",
            "+2",
            ".5",
            "-.5",
            "007",
            "1.5",
            "1.50",
            "1.500",
            "9999999999999999.99",
        ] {
            assert!(re.is_match(ok), "{ok}");
            assert!(accepts(&ty, json!(ok)), "{ok}");
        }
        for bad in [
            "1.",
            ".",
            "-",
            "1.555",
            "1e5",
            "abc",
            "1.5\n",
            "10000000000000000",
        ] {
            assert!(!re.is_match(bad), "{bad}");
            assert!(!accepts(&ty, json!(bad)), "{bad}");
        }
        let bound = schema["maximum"].as_i64().unwrap_or_default();
        assert!(accepts(&ty, json!(bound)));
        assert!(accepts(&ty, json!(-bound)));
    }

    #[test]
    fn text_and_select_schemas_match_the_type() {
        let text = FieldType::Text(TextOptions {
            max_length: Some(5),
        });
        assert_eq!(value_schema(&text)["maxLength"], 5);
        assert!(!accepts(&text, json!("a\nb")));
        let int = FieldType::Integer(IntegerOptions {
            min: Some(-3),
            max: Some(3),
        });
        assert_eq!(value_schema(&int)["minimum"], -3);
        let select = FieldType::SingleSelect(SelectOptions {
            choices: vec!["a".into(), "b".into()],
        });
        assert_eq!(value_schema(&select)["enum"], json!(["a", "b"]));
    }
}
