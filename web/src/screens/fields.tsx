// Editing a field definition: name, type and the options each type takes.
import { useState } from "preact/hooks";
import type { Field, FieldKind, Table } from "../api";

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
  unique: boolean;
  indexed: boolean;
  encrypted: boolean;
  blindIndex: boolean;
  choices: string;
  linkTable: string;
  multiple: boolean;
  onDelete: "restrict" | "clear";
  maxLength: string;
  min: string;
  max: string;
  scale: string;
}

export const emptyDraft = (): FieldDraft => ({
  name: "", type: "text", required: false, unique: false, indexed: false, encrypted: false, blindIndex: false,
  choices: "", linkTable: "", multiple: false, onDelete: "restrict", maxLength: "", min: "", max: "", scale: "2",
});

/** A stored field as a draft, for editing. */
export function draftOf(f: Field): FieldDraft {
  const o = (f.options ?? {}) as Record<string, unknown>;
  const text = (v: unknown) => (v === undefined || v === null ? "" : String(v));
  return {
    ...emptyDraft(),
    name: f.name, type: f.type, required: f.required, unique: f.unique, indexed: f.indexed,
    encrypted: f.encrypted, blindIndex: f.blind_index,
    choices: (f.options?.choices ?? []).join(", "), linkTable: text(o.table_id), multiple: Boolean(o.multiple),
    onDelete: o.on_delete === "clear" ? "clear" : "restrict",
    maxLength: text(o.max_length), min: text(o.min), max: text(o.max), scale: text(o.scale ?? 2),
  };
}

/** The options object the server takes for a draft's type. */
export function fieldOptions(d: FieldDraft): Record<string, unknown> {
  const number = (t: string) => (t.trim() === "" ? undefined : Number(t));
  switch (d.type) {
    case "single_select":
    case "multi_select":
      return { choices: d.choices.split(",").map((c) => c.trim()).filter(Boolean) };
    case "link":
      return { table_id: d.linkTable, multiple: d.multiple, on_delete: d.onDelete };
    case "text":
      return number(d.maxLength) === undefined ? {} : { max_length: number(d.maxLength) };
    case "integer": {
      const o: Record<string, unknown> = {};
      if (number(d.min) !== undefined) o.min = number(d.min);
      if (number(d.max) !== undefined) o.max = number(d.max);
      return o;
    }
    case "decimal":
      return { scale: number(d.scale) ?? 2 };
    default:
      return {};
  }
}

/** The API body creating a field from a draft. */
export function fieldBody(d: FieldDraft): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: d.name.trim(), type: d.type, required: d.required, unique: d.unique, indexed: d.indexed,
    options: fieldOptions(d),
  };
  if (d.encrypted) {
    body.encrypted = true;
    body.blind_index = d.blindIndex;
  }
  return body;
}

export function FieldEditor(props: {
  draft: FieldDraft;
  onChange: (d: FieldDraft) => void;
  tables: Table[];
  index: number;
  error?: string | undefined;
  /** Editing a stored field: encryption is chosen when a field is made. */
  existing?: boolean;
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
      {d.type === "link" && (
        <>
          <label class="check"><input type="checkbox" checked={d.multiple} onChange={(e) => set({ multiple: e.currentTarget.checked })} /> Several links</label>
          <label>When a linked record is deleted
            <select value={d.onDelete} onChange={(e) => set({ onDelete: e.currentTarget.value as "restrict" | "clear" })}>
              <option value="restrict">refuse the deletion</option>
              <option value="clear">remove the link</option>
            </select>
          </label>
        </>
      )}
      {d.type === "text" && (
        <label>Longest (characters)<input type="number" min={1} value={d.maxLength} onInput={(e) => set({ maxLength: e.currentTarget.value })} /></label>
      )}
      {d.type === "integer" && (
        <>
          <label>Smallest<input type="number" value={d.min} onInput={(e) => set({ min: e.currentTarget.value })} /></label>
          <label>Largest<input type="number" value={d.max} onInput={(e) => set({ max: e.currentTarget.value })} /></label>
        </>
      )}
      {d.type === "decimal" && (
        <label>Digits after the point<input type="number" min={0} max={9} value={d.scale} onInput={(e) => set({ scale: e.currentTarget.value })} /></label>
      )}
      <label class="check" for={id}>
        <input id={id} type="checkbox" checked={d.required} onChange={(e) => set({ required: e.currentTarget.checked })} />
        Required
      </label>
      <label class="check"><input type="checkbox" checked={d.unique} onChange={(e) => set({ unique: e.currentTarget.checked })} /> Unique</label>
      <label class="check"><input type="checkbox" checked={d.indexed} onChange={(e) => set({ indexed: e.currentTarget.checked })} /> Indexed (fast sort and filter)</label>
      {!props.existing && (
        <label class="check"><input type="checkbox" checked={d.encrypted} onChange={(e) => set({ encrypted: e.currentTarget.checked })} /> Encrypted</label>
      )}
      {!props.existing && d.encrypted && (
        <label class="check"><input type="checkbox" checked={d.blindIndex} onChange={(e) => set({ blindIndex: e.currentTarget.checked })} /> Searchable by equality (blind index)</label>
      )}
      {props.error && <p class="error" role="alert">{props.error}</p>}
    </fieldset>
  );
}
