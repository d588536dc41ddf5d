// Editing a field definition: name, type and the options each type takes.
import { useState } from "preact/hooks";
import type { FieldKind, Table } from "../api";

export const FIELD_KINDS: { kind: FieldKind; label: string }[] = [
  { kind: "text", label: "Text" },
  { kind: "long_text", label: "Long text" },
  { kind: "integer", label: "Integer" },
  { kind: "decimal", label: "Decimal" },
  { kind: "boolean", label: "Checkbox" },
  { kind: "date", label: "Date" },
  { kind: "datetime", label: "Date and time" },
  { kind: "single_select", label: "Single select" },
  { kind: "multi_select", label: "Multiple select" },
  { kind: "email", label: "Email" },
  { kind: "url", label: "URL" },
  { kind: "json", label: "JSON" },
  { kind: "link", label: "Link to records" },
  { kind: "user", label: "User" },
];

export interface FieldDraft {
  name: string;
  type: FieldKind;
  required: boolean;
  choices: string;
  linkTable: string;
}

export const emptyDraft = (): FieldDraft => ({ name: "", type: "text", required: false, choices: "", linkTable: "" });

/** The API body for a draft. */
export function fieldBody(d: FieldDraft): Record<string, unknown> {
  const body: Record<string, unknown> = { name: d.name.trim(), type: d.type, required: d.required };
  if (d.type === "single_select" || d.type === "multi_select") {
    body.options = { choices: d.choices.split(",").map((c) => c.trim()).filter(Boolean) };
  } else if (d.type === "link") {
    body.options = { table_id: d.linkTable };
  }
  return body;
}

export function FieldEditor(props: {
  draft: FieldDraft;
  onChange: (d: FieldDraft) => void;
  tables: Table[];
  index: number;
  error?: string | undefined;
}) {
  const d = props.draft;
  const set = (patch: Partial<FieldDraft>) => props.onChange({ ...d, ...patch });
  const [id] = useState(() => `field-${Math.random().toString(36).slice(2)}`);
  return (
    <fieldset class="field-editor">
      <label>
        Field name
        <input name={`field_name_${props.index}`} required value={d.name} onInput={(e) => set({ name: e.currentTarget.value })} />
      </label>
      <label>
        Type
        <select name={`field_type_${props.index}`} value={d.type} onChange={(e) => set({ type: e.currentTarget.value as FieldKind })}>
          {FIELD_KINDS.map((k) => <option key={k.kind} value={k.kind}>{k.label}</option>)}
        </select>
      </label>
      {(d.type === "single_select" || d.type === "multi_select") && (
        <label>
          Choices (comma-separated)
          <input name={`field_choices_${props.index}`} required value={d.choices} onInput={(e) => set({ choices: e.currentTarget.value })} />
        </label>
      )}
      {d.type === "link" && (
        <label>
          Linked table
          <select required value={d.linkTable} onChange={(e) => set({ linkTable: e.currentTarget.value })}>
            <option value="">Choose a table</option>
            {props.tables.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
          </select>
        </label>
      )}
      <label class="check" for={id}>
        <input id={id} type="checkbox" checked={d.required} onChange={(e) => set({ required: e.currentTarget.checked })} />
        Required
      </label>
      {props.error && <p class="error" role="alert">{props.error}</p>}
    </fieldset>
  );
}
