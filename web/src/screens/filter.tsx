// The filter: the expression language as text (what the server checks and explains), and a
// small builder that writes a condition into it for people who do not know the language.
import { useEffect, useState } from "preact/hooks";
import type { Field, FieldError, Table } from "../api";

const OPERATORS = ["=", "!=", ">", ">=", "<", "<=", "~"] as const;

function fieldRef(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : "`" + name + "`";
}

function literal(field: Field, text: string): string {
  const t = text.trim();
  if (t === "") return "null";
  if (field.type === "integer" || field.type === "decimal") return t;
  if (field.type === "boolean") return /^(true|yes|1)$/i.test(t) ? "true" : "false";
  return JSON.stringify(text);
}

function example(table: Table): string {
  const f = table.fields[0];
  if (!f) return "";
  const value = f.type === "integer" || f.type === "decimal" ? "10" : f.type === "boolean" ? "true" : '"text"';
  return `e.g. ${fieldRef(f.name)} ${f.type === "text" || f.type === "long_text" ? "~" : "="} ${value}`;
}

export function FilterBar(props: {
  table: Table;
  filter: string;
  onFilter: (f: string) => void;
  error: FieldError | null;
}) {
  const [text, setText] = useState(props.filter);
  const [field, setField] = useState(props.table.fields[0]?.name ?? "");
  const [op, setOp] = useState<string>("=");
  const [value, setValue] = useState("");
  useEffect(() => setText(props.filter), [props.filter]);

  const apply = (e: Event) => {
    e.preventDefault();
    props.onFilter(text.trim());
  };
  const addCondition = () => {
    const f = props.table.fields.find((x) => x.name === field);
    if (!f) return;
    const condition = `${fieldRef(f.name)} ${op} ${literal(f, value)}`;
    const next = text.trim() ? `(${text.trim()}) && ${condition}` : condition;
    setText(next);
    props.onFilter(next);
    setValue("");
  };

  return (
    <div class="filter">
      <form class="inline" onSubmit={apply}>
        <label class="grow">
          Filter
          <input name="filter" placeholder={example(props.table)} value={text} spellcheck={false}
            aria-invalid={props.error ? true : undefined} onInput={(e) => setText(e.currentTarget.value)} />
        </label>
        <button type="submit" class="secondary">Apply</button>
        {props.filter && <button type="button" class="link" onClick={() => props.onFilter("")}>Clear</button>}
      </form>
      {props.error && (
        <p class="error" role="alert">
          {props.error.message}
          {props.error.position !== undefined && (
            <code class="at">{text.slice(0, props.error.position)}<mark>{text.slice(props.error.position) || " "}</mark></code>
          )}
        </p>
      )}
      <details class="builder">
        <summary>Build a condition</summary>
        <div class="inline">
          <select aria-label="Condition field" value={field} onChange={(e) => setField(e.currentTarget.value)}>
            {props.table.fields.map((f) => <option key={f.id} value={f.name}>{f.name}</option>)}
          </select>
          <select aria-label="Condition operator" value={op} onChange={(e) => setOp(e.currentTarget.value)}>
            {OPERATORS.map((o) => <option key={o} value={o}>{o === "~" ? "contains" : o}</option>)}
          </select>
          <input aria-label="Condition value" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
          <button type="button" class="secondary" onClick={addCondition}>Add condition</button>
        </div>
      </details>
    </div>
  );
}
