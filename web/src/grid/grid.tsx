// The record grid: virtualized rows (only what is on screen is in the DOM), pages fetched by
// cursor as the view nears the end of what is loaded, cells edited in place with the
// server's validation shown at the cell, keyboard navigation, and copy/paste of ranges.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { ApiProblem, describe, get, patch, post, type Field, type RecordOut, type Table } from "../api";
import type { Pager } from "./pager";
import { display, editableInGrid, editText, ParseError, parseText } from "./values";

export const ROW_HEIGHT = 32;
const OVERSCAN = 8;
/** Fetch the next page when the view is this many rows from the end of what is loaded. */
const PREFETCH = 60;
/** New records created per request when a paste runs past the last record. */
const PASTE_BATCH = 500;

interface Cell {
  row: number;
  col: number;
}

interface Editing extends Cell {
  text: string;
}

export interface GridProps {
  table: Table;
  pager: Pager;
  sort: string;
  onSort: (sort: string) => void;
  onActiveRow: (record: RecordOut | null) => void;
  onStatus: (message: string | null) => void;
  /** Nothing can be changed (another user's view). */
  readOnly?: boolean;
}

export function Grid(props: GridProps) {
  const { table, pager } = props;
  const fields = table.fields;
  const scroller = useRef<HTMLDivElement>(null);
  // Browsers only paste into something editable: Ctrl+V moves the focus here first.
  const pasteTarget = useRef<HTMLTextAreaElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewHeight, setViewHeight] = useState(600);
  const [active, setActive] = useState<Cell>({ row: 0, col: 0 });
  const [anchor, setAnchor] = useState<Cell>({ row: 0, col: 0 });
  const [editing, setEditing] = useState<Editing | null>(null);
  const [cellError, setCellError] = useState<{ id: string; col: number; message: string } | null>(null);
  const [saving, setSaving] = useState(false);
  // Pasted rows that went past the last record, waiting for the user to create or drop them.
  const [offer, setOffer] = useState<{ col: number; rows: string[][] } | null>(null);

  // A filter or sort the server refused is shown by the filter bar, not again here.
  const queryRefused =
    pager.error instanceof ApiProblem && pager.error.errors.some((e) => e.field === "filter" || e.field === "sort");
  const total = pager.length + (pager.hasMore && !queryRefused ? 1 : 0);
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(total - 1, Math.ceil((scrollTop + viewHeight) / ROW_HEIGHT) + OVERSCAN);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setViewHeight(el.clientHeight));
    observer.observe(el);
    setViewHeight(el.clientHeight);
    return () => observer.disconnect();
  }, []);

  // A new query starts at the top (and does not fetch its way down to the old position).
  useLayoutEffect(() => {
    if (scroller.current) scroller.current.scrollTop = 0;
    setScrollTop(0);
    setActive({ row: 0, col: 0 });
    setAnchor({ row: 0, col: 0 });
    setEditing(null);
    setCellError(null);
    setOffer(null);
  }, [pager]);

  // Load what the view needs, plus a margin below.
  useEffect(() => {
    void pager.ensure(first, last + PREFETCH);
  }, [first, last, pager, pager.length, pager.hasMore, pager.loading]);

  const activeRecord = pager.row(active.row) ?? null;
  useEffect(() => {
    props.onActiveRow(activeRecord);
  }, [activeRecord]);

  // Keep the active cell on screen when the keyboard moves it.
  const reveal = (row: number) => {
    const el = scroller.current;
    if (!el) return;
    const top = row * ROW_HEIGHT;
    const headerHeight = ROW_HEIGHT;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + ROW_HEIGHT > el.scrollTop + el.clientHeight - headerHeight) {
      el.scrollTop = top + ROW_HEIGHT - el.clientHeight + headerHeight;
    }
  };

  const moveTo = (row: number, col: number, extend = false) => {
    const r = Math.max(0, Math.min(row, Math.max(pager.length - 1, 0)));
    const c = Math.max(0, Math.min(col, fields.length - 1));
    setActive({ row: r, col: c });
    if (!extend) setAnchor({ row: r, col: c });
    reveal(r);
  };

  const startEdit = (cell: Cell, text?: string) => {
    const record = pager.row(cell.row);
    const field = fields[cell.col];
    if (!record || !field || !editableInGrid(field) || props.readOnly) return;
    if (field.type === "boolean" && text === undefined) {
      void save(cell, record.fields[field.name] ? "false" : "true", null);
      return;
    }
    setCellError(null);
    setEditing({ ...cell, text: text ?? editText(field, record.fields[field.name]) });
  };

  /** Writes one cell; on success moves by `then` (or stays), on failure keeps the editor. */
  const save = async (cell: Cell, text: string, then: Cell | null) => {
    const record = pager.row(cell.row);
    const field = fields[cell.col];
    if (!record || !field) return;
    let value: unknown;
    try {
      value = parseText(field, text);
    } catch (e) {
      setCellError({ id: record.id, col: cell.col, message: e instanceof ParseError ? e.message : String(e) });
      return;
    }
    setSaving(true);
    try {
      const updated = await patch<RecordOut>(`/api/v1/tables/${table.id}/records/${record.id}`, {
        fields: { [field.name]: value },
        version: record.version,
      });
      pager.replace(updated);
      setEditing(null);
      setCellError(null);
      props.onStatus(null);
      if (then) moveTo(then.row, then.col);
      scroller.current?.focus();
    } catch (e) {
      if (e instanceof ApiProblem && e.status === 409) {
        // Someone saved first: show their version, keep this edit open to apply again.
        try {
          pager.replace(await get<RecordOut>(`/api/v1/tables/${table.id}/records/${record.id}`));
        } catch {
          /* the conflict message below still applies */
        }
        setCellError({
          id: record.id,
          col: cell.col,
          message: "Someone else changed this record after you opened it. Their version is shown; press Enter to save yours over it, or Escape to keep theirs.",
        });
      } else {
        const message = e instanceof ApiProblem ? (e.fieldMessage(`fields.${field.name}`) ?? describe(e)) : describe(e);
        setCellError({ id: record.id, col: cell.col, message });
      }
      if (field.type !== "boolean") setEditing({ ...cell, text });
    } finally {
      setSaving(false);
    }
  };

  const selection = () => ({
    top: Math.min(anchor.row, active.row),
    bottom: Math.max(anchor.row, active.row),
    left: Math.min(anchor.col, active.col),
    right: Math.max(anchor.col, active.col),
  });
  const selected = (row: number, col: number) => {
    const s = selection();
    return row >= s.top && row <= s.bottom && col >= s.left && col <= s.right;
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (editing) {
      // Keys typed before the editor took focus still belong to it.
      if (e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        setEditing({ ...editing, text: editing.text + e.key });
      } else {
        onEditorKey(e);
      }
      return;
    }
    const page = Math.max(1, Math.floor(viewHeight / ROW_HEIGHT) - 1);
    const { row, col } = active;
    const extend = e.shiftKey;
    switch (e.key) {
      case "ArrowDown": moveTo(row + 1, col, extend); break;
      case "ArrowUp": moveTo(row - 1, col, extend); break;
      case "ArrowRight": moveTo(row, col + 1, extend); break;
      case "ArrowLeft": moveTo(row, col - 1, extend); break;
      case "PageDown": moveTo(row + page, col, extend); break;
      case "PageUp": moveTo(row - page, col, extend); break;
      case "Home": moveTo(e.ctrlKey ? 0 : row, 0, extend); break;
      case "End": moveTo(e.ctrlKey ? pager.length - 1 : row, fields.length - 1, extend); break;
      case "Tab": moveTo(row, col + (e.shiftKey ? -1 : 1)); break;
      case "Enter":
      case "F2": startEdit(active); break;
      case " ":
        if (fields[col]?.type === "boolean") startEdit(active);
        else return;
        break;
      case "Delete":
      case "Backspace": {
        const field = fields[col];
        if (field && editableInGrid(field) && !props.readOnly) void save(active, "", null);
        break;
      }
      case "Escape": setAnchor(active); break;
      case "v":
      case "V":
        if ((e.ctrlKey || e.metaKey) && !props.readOnly && pasteTarget.current) {
          pasteTarget.current.value = "";
          pasteTarget.current.focus();
          return; // the browser's paste now lands in the textarea
        }
        if (e.ctrlKey || e.metaKey || e.altKey) return;
        startEdit(active, e.key);
        break;
      default:
        if (e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey) {
          startEdit(active, e.key);
          break;
        }
        return;
    }
    e.preventDefault();
  };

  const onEditorKey = (e: KeyboardEvent) => {
    if (!editing) return;
    e.stopPropagation();
    if (e.key === "Escape") {
      e.preventDefault();
      setEditing(null);
      setCellError(null);
      scroller.current?.focus();
    } else if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      void save(editing, editing.text, { row: editing.row + 1, col: editing.col });
    } else if (e.key === "Tab") {
      e.preventDefault();
      void save(editing, editing.text, { row: editing.row, col: editing.col + (e.shiftKey ? -1 : 1) });
    }
  };

  const onCopy = (e: ClipboardEvent) => {
    if (editing || !e.clipboardData) return;
    const s = selection();
    const lines: string[] = [];
    for (let r = s.top; r <= s.bottom; r++) {
      const record = pager.row(r);
      if (!record) continue;
      const cells: string[] = [];
      for (let c = s.left; c <= s.right; c++) {
        const f = fields[c]!;
        cells.push(editText(f, record.fields[f.name]).replace(/[\t\n]/g, " "));
      }
      lines.push(cells.join("\t"));
    }
    e.clipboardData.setData("text/plain", lines.join("\n"));
    e.preventDefault();
    props.onStatus(`Copied ${lines.length} × ${s.right - s.left + 1} cells.`);
  };

  const onPaste = async (e: ClipboardEvent) => {
    scroller.current?.focus();
    if (editing || !e.clipboardData || props.readOnly) return;
    e.preventDefault();
    const text = e.clipboardData.getData("text/plain").replace(/\r/g, "").replace(/\n$/, "");
    const grid = text.split("\n").map((l) => l.split("\t"));
    const at = { ...active };
    // Every row the paste reaches, loaded first: what lies past the last record is offered
    // as new records, never dropped.
    await pager.load(at.row, at.row + grid.length - 1);
    const targets = grid.map((_, i) => pager.row(at.row + i));
    const firstMissing = targets.findIndex((r) => !r);
    let done = 0;
    const failures: string[] = [];
    for (let i = 0; i < grid.length; i++) {
      const record = targets[i];
      if (!record) break;
      const { values, errors } = rowValues(grid[i]!, at.col, `row ${at.row + i + 1}`);
      failures.push(...errors);
      if (Object.keys(values).length === 0) continue;
      try {
        pager.replace(await patch<RecordOut>(`/api/v1/tables/${table.id}/records/${record.id}`, { fields: values, version: record.version }));
        done++;
      } catch (err) {
        failures.push(`row ${at.row + i + 1}: ${describe(err)}`);
      }
    }
    if (firstMissing >= 0 && !pager.hasMore && !pager.error) {
      setOffer({ col: at.col, rows: grid.slice(firstMissing) });
    }
    props.onStatus(`Pasted into ${done} record${done === 1 ? "" : "s"}.` + (failures.length ? ` Not saved: ${failures.join("; ")}` : ""));
  };

  /** One pasted row's values by field, from column `col` on (what does not parse: errors). */
  const rowValues = (cells: string[], col: number, where: string) => {
    const values: Record<string, unknown> = {};
    const errors: string[] = [];
    cells.forEach((t, j) => {
      const f = fields[col + j];
      if (f && editableInGrid(f)) {
        try {
          values[f.name] = parseText(f, t);
        } catch (err) {
          errors.push(`${where}, ${f.name}: ${describe(err)}`);
        }
      }
    });
    return { values, errors };
  };

  /** The pasted rows past the last record, created as new records (in batches, each whole). */
  const createOffered = async () => {
    if (!offer) return;
    setOffer(null);
    const bodies: Record<string, unknown>[] = [];
    const failures: string[] = [];
    offer.rows.forEach((cells, i) => {
      const { values, errors } = rowValues(cells, offer.col, `new row ${i + 1}`);
      failures.push(...errors);
      if (errors.length === 0) bodies.push(values);
    });
    let created = 0;
    for (let from = 0; from < bodies.length && failures.length === 0; from += PASTE_BATCH) {
      const chunk = bodies.slice(from, from + PASTE_BATCH);
      try {
        const out = await post<{ created: RecordOut[] }>(`/api/v1/tables/${table.id}/records/batch`, {
          create: chunk.map((values) => ({ fields: values })),
        });
        out.created.forEach((r) => pager.appended(r));
        created += out.created.length;
      } catch (err) {
        // `create[3].fields.age` is the fourth row of this batch.
        failures.push(describe(err).replace(/create\[(\d+)\]/g, (_, n) => `new row ${from + Number(n) + 1}`));
      }
    }
    props.onStatus(`Created ${created} record${created === 1 ? "" : "s"}.` + (failures.length ? ` Not created: ${failures.join("; ")}` : ""));
  };

  const sortBy = (f: Field) => {
    props.onSort(props.sort === f.name ? `-${f.name}` : props.sort === `-${f.name}` ? "" : f.name);
  };

  const columns = `var(--rownum-width) repeat(${fields.length}, var(--cell-width))`;
  const visible: number[] = [];
  for (let i = first; i <= last; i++) visible.push(i);

  const extra = offer?.rows.length ?? 0;
  return (
    <div class="grid-wrap">
      {offer && (
        <div class="paste-offer" role="group" aria-label="Pasted rows past the last record">
          <span>{extra} pasted row{extra === 1 ? " goes" : "s go"} past the last record.</span>
          <button type="button" onClick={() => void createOffered()}>Create {extra} new record{extra === 1 ? "" : "s"}</button>
          <button type="button" class="link" onClick={() => setOffer(null)}>Discard {extra === 1 ? "it" : "them"}</button>
        </div>
      )}
      <div
        ref={scroller}
        class="grid"
        role="grid"
        aria-label={`Records of ${table.name}`}
        aria-rowcount={pager.hasMore ? -1 : pager.length + 1}
        aria-colcount={fields.length + 1}
        aria-busy={pager.loading}
        tabIndex={0}
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
        onKeyDown={onKeyDown}
        onCopy={onCopy}
        style={{ "--columns": columns }}
      >
        <textarea ref={pasteTarget} class="paste-target" aria-hidden="true" tabIndex={-1}
          onPaste={(e) => void onPaste(e)} onBlur={(e) => { e.currentTarget.value = ""; }} />
        <div class="grid-head" role="row" aria-rowindex={1}>
          <div class="rownum" role="columnheader">#</div>
          {fields.map((f) => {
            const dir = props.sort === f.name ? "ascending" : props.sort === `-${f.name}` ? "descending" : "none";
            return (
              <div key={f.id} role="columnheader" aria-sort={dir} class="head-cell">
                <button type="button" class="head-button" title={`Sort by ${f.name}`} onClick={() => sortBy(f)}>
                  <span>{f.name}</span>
                  <span class="muted small">{f.type.replace("_", " ")}{f.required ? " · required" : ""}</span>
                  <span class="sort-mark" aria-hidden="true">{dir === "ascending" ? "▲" : dir === "descending" ? "▼" : ""}</span>
                </button>
              </div>
            );
          })}
        </div>
        <div class="grid-body" style={{ height: `${total * ROW_HEIGHT}px` }}>
          {visible.map((i) => {
            const record = pager.row(i);
            if (!record) {
              return (
                <div key={`loading-${i}`} class="grid-row loading-row" role="row" style={{ transform: `translateY(${i * ROW_HEIGHT}px)` }}>
                  <div role="gridcell" class="loading">{pager.error ? describe(pager.error) : "Loading…"}</div>
                </div>
              );
            }
            return (
              <div key={record.id} class={i === active.row ? "grid-row current" : "grid-row"} role="row" aria-rowindex={i + 2} data-record-id={record.id}
                style={{ transform: `translateY(${i * ROW_HEIGHT}px)` }}>
                <div class="rownum" role="rowheader">{i + 1}</div>
                {fields.map((f, c) => {
                  const isActive = active.row === i && active.col === c;
                  const isEditing = editing && editing.row === i && editing.col === c;
                  const error = cellError && cellError.id === record.id && cellError.col === c ? cellError.message : null;
                  const cls = ["cell", `type-${f.type}`, isActive ? "active" : "", selected(i, c) ? "selected" : "", error ? "invalid" : ""].join(" ");
                  return (
                    <div key={f.id} role="gridcell" class={cls} aria-selected={selected(i, c)} aria-invalid={error ? true : undefined}
                      data-field={f.name}
                      onMouseDown={(e) => {
                        if (isEditing) return;
                        e.preventDefault();
                        scroller.current?.focus();
                        moveTo(i, c, e.shiftKey);
                      }}
                      onDblClick={() => startEdit({ row: i, col: c })}>
                      {isEditing ? (
                        <CellEditor field={f} text={editing.text} disabled={saving}
                          onText={(text) => setEditing({ ...editing, text })} onKeyDown={onEditorKey} />
                      ) : f.type === "boolean" ? (
                        <input type="checkbox" tabIndex={-1} checked={Boolean(record.fields[f.name])} aria-label={f.name} disabled={props.readOnly}
                          onClick={(e) => { e.preventDefault(); void save({ row: i, col: c }, record.fields[f.name] ? "false" : "true", null); }} />
                      ) : !(f.name in record.fields) ? (
                        <span class="cell-text muted small">hidden</span>
                      ) : (
                        <span class="cell-text">{display(f, record.fields[f.name])}</span>
                      )}
                      {error && isActive && <div class="cell-error" role="alert">{error}</div>}
                    </div>
                  );
                })}
              </div>
            );
          })}
        </div>
      </div>
      {!pager.loading && !pager.hasMore && pager.length === 0 && !pager.error && (
        <p class="empty">No records here{props.sort ? "" : " yet"}. Add one with “New record”.</p>
      )}
    </div>
  );
}

function CellEditor(props: {
  field: Field;
  text: string;
  disabled: boolean;
  onText: (text: string) => void;
  onKeyDown: (e: KeyboardEvent) => void;
}) {
  const ref = useRef<HTMLInputElement & HTMLSelectElement>(null);
  useLayoutEffect(() => {
    ref.current?.focus();
    if (ref.current instanceof HTMLInputElement) {
      const n = ref.current.value.length;
      ref.current.setSelectionRange(n, n);
    }
  }, []);
  const f = props.field;
  if (f.type === "single_select") {
    return (
      <select ref={ref} class="cell-editor" aria-label={f.name} value={props.text} aria-busy={props.disabled}
        onChange={(e) => props.disabled || props.onText(e.currentTarget.value)} onKeyDown={props.onKeyDown}>
        <option value="">—</option>
        {(f.options?.choices ?? []).map((c) => <option key={c} value={c}>{c}</option>)}
      </select>
    );
  }
  const common = {
    class: "cell-editor",
    "aria-label": f.name,
    value: props.text,
    // Read-only, not disabled, while saving: a disabled input would drop the focus.
    readOnly: props.disabled,
    onInput: (e: Event) => props.onText((e.currentTarget as HTMLInputElement).value),
    onKeyDown: props.onKeyDown,
  };
  if (f.type === "date") return <input ref={ref} type="date" {...common} />;
  return <input ref={ref} type="text" inputMode={f.type === "integer" || f.type === "decimal" ? "decimal" : "text"} {...common} />;
}
