// The import wizard: choose a file, see what the server read from it (columns with inferred
// types, the fields they go to, the first rows), adjust, check it with a dry run (every refused
// row at its row and column), then import with a progress bar and a result that links to the
// refused rows. Every step is the API's: preview, job, rejects.
import { useEffect, useState } from "preact/hooks";
import {
  get, post, upload,
  type FieldKind, type ImportJob, type ImportPreview, type RejectedRow, type Table,
} from "../api";
import { onLink } from "../router";
import { ErrorLine, useAction, useGeneration } from "../ui";

/** Types a column can be given instead of the inferred one (those that need no options). */
const PLAIN_TYPES: FieldKind[] = [
  "text", "long_text", "integer", "decimal", "boolean", "date", "datetime", "email", "url", "json",
];
const SKIP = "skip";

export type ImportTarget = { table: Table } | { projectId: string };

export function ImportWizard(props: { target: ImportTarget; onFinished: (job: ImportJob) => void; onClose: () => void }) {
  const table = "table" in props.target ? props.target.table : null;
  const [file, setFile] = useState<File | null>(null);
  const [sheet, setSheet] = useState<string | undefined>(undefined);
  const [preview, setPreview] = useState<ImportPreview | null>(null);
  // Existing table: column → field name ("" skips it). New table: column → type or "skip".
  const [choice, setChoice] = useState<Record<string, string>>({});
  const [name, setName] = useState("");
  const [mode, setMode] = useState<"all_or_nothing" | "valid_rows">("all_or_nothing");
  const [upsert, setUpsert] = useState("");
  const [job, setJob] = useState<ImportJob | null>(null);
  const [rejects, setRejects] = useState<RejectedRow[] | null>(null);
  const reading = useAction();
  const running = useAction();
  const answers = useGeneration();

  const read = (f: File, s?: string) =>
    reading.run(async () => {
      const live = answers.begin();
      setJob(null);
      setRejects(null);
      const q = new URLSearchParams();
      if (table) q.set("table_id", table.id);
      if (s) q.set("sheet", s);
      const p = await upload<ImportPreview>(`/api/v1/imports/preview?${q}`, f);
      if (!live()) return;
      setPreview(p);
      setSheet(p.sheet);
      setChoice(Object.fromEntries(p.columns.map((c) => [c.name, table ? (c.maps_to ?? "") : c.type])));
      if (!table) setName(f.name.replace(/\.[^.]+$/, ""));
    });

  // Poll a running job; an answer for an older job (or after a new file) is dropped.
  useEffect(() => {
    if (!job || job.state !== "running") return;
    const live = answers.join();
    const timer = setTimeout(() => {
      get<ImportJob>(`/api/v1/imports/${job.id}`).then((j) => live() && setJob(j), () => undefined);
    }, 250);
    return () => clearTimeout(timer);
  }, [job]);
  useEffect(() => {
    if (!job || job.state === "running") return;
    const live = answers.join();
    if (job.rows_rejected > 0) {
      get<{ items: RejectedRow[] }>(`/api/v1/imports/${job.id}/rejects?format=json&limit=100`)
        .then((r) => live() && setRejects(r.items), () => live() && setRejects([]));
    } else {
      setRejects([]);
    }
    if (!job.dry_run && job.state === "done") props.onFinished(job);
  }, [job?.id, job?.state]);

  const start = (dryRun: boolean) =>
    running.run(async () => {
      if (!file || !preview) return;
      const live = answers.begin();
      setRejects(null);
      const q = new URLSearchParams({ mode });
      if (sheet) q.set("sheet", sheet);
      let path: string;
      if (table) {
        const map = Object.fromEntries(preview.columns.map((c) => [c.name, choice[c.name] || null]));
        q.set("map", JSON.stringify(map));
        if (dryRun) q.set("dry_run", "true");
        if (upsert) q.set("upsert", upsert);
        path = `/api/v1/tables/${table.id}/imports?${q}`;
      } else {
        const types = Object.fromEntries(
          preview.columns.filter((c) => choice[c.name] !== c.type).map((c) => [c.name, choice[c.name]]),
        );
        q.set("name", name);
        q.set("types", JSON.stringify(types));
        path = `/api/v1/projects/${(props.target as { projectId: string }).projectId}/imports?${q}`;
      }
      const started = await upload<ImportJob>(path, file);
      if (live()) setJob(started);
    });
  const cancel = () => job && void running.run(async () => setJob(await post<ImportJob>(`/api/v1/imports/${job.id}/cancel`)));

  const keys = table?.fields.filter((f) => f.unique && ["text", "email", "url", "integer", "single_select"].includes(f.type)) ?? [];
  const isRunning = job?.state === "running";
  return (
    <div class="card import-wizard" role="region" aria-label="Import a file">
      <h2>{table ? `Import into ${table.name}` : "Import a file as a new table"}</h2>
      <label>
        File (CSV, TSV, Excel, JSON or NDJSON)
        <input type="file" name="import_file" accept=".csv,.tsv,.txt,.xlsx,.json,.ndjson,.jsonl"
          onChange={(e) => {
            const f = e.currentTarget.files?.[0] ?? null;
            setFile(f);
            setPreview(null);
            if (f) void read(f);
          }} />
      </label>
      {reading.busy && <p class="loading" aria-busy="true">Reading the file…</p>}
      <ErrorLine message={reading.message} />
      {preview && (
        <>
          <p class="muted small" role="status">
            {preview.format.toUpperCase()}
            {preview.delimiter ? `, separated by ${preview.delimiter === "\t" ? "tabs" : `“${preview.delimiter}”`}` : ""}
            {preview.encoding ? `, ${preview.encoding}` : ""} · {preview.columns.length} columns ·{" "}
            {preview.more_rows ? `more than ${preview.rows_sampled}` : preview.rows_sampled} rows
          </p>
          {preview.sheets && preview.sheets.length > 1 && (
            <label>
              Sheet
              <select value={sheet} onChange={(e) => { setSheet(e.currentTarget.value); file && void read(file, e.currentTarget.value); }}>
                {preview.sheets.map((s) => <option key={s} value={s}>{s}</option>)}
              </select>
            </label>
          )}
          {!table && (
            <label>
              New table's name
              <input name="import_table_name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
            </label>
          )}
          <div class="import-preview">
            <table>
              <thead>
                <tr>
                  {preview.columns.map((c) => (
                    <th key={c.name} scope="col">
                      <div>{c.name}</div>
                      <select aria-label={table ? `Field for ${c.name}` : `Type of ${c.name}`} value={choice[c.name]}
                        onChange={(e) => setChoice({ ...choice, [c.name]: e.currentTarget.value })}>
                        {table ? (
                          <>
                            <option value="">Skip this column</option>
                            {table.fields.map((f) => <option key={f.id} value={f.name}>{f.name}</option>)}
                          </>
                        ) : (
                          <>
                            <option value={c.type}>{c.type.replace("_", " ")}{PLAIN_TYPES.includes(c.type) ? "" : " (inferred)"}</option>
                            {PLAIN_TYPES.filter((t) => t !== c.type).map((t) => <option key={t} value={t}>{t.replace("_", " ")}</option>)}
                            <option value={SKIP}>Skip this column</option>
                          </>
                        )}
                      </select>
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {preview.rows.map((r, i) => (
                  <tr key={i}>{r.map((v, j) => <td key={j}>{v === null ? "" : typeof v === "string" ? v : JSON.stringify(v)}</td>)}</tr>
                ))}
              </tbody>
            </table>
          </div>
          <fieldset class="row">
            <legend>If a row is refused</legend>
            <label class="check">
              <input type="radio" name="import_mode" checked={mode === "all_or_nothing"} onChange={() => setMode("all_or_nothing")} />
              Import nothing
            </label>
            <label class="check">
              <input type="radio" name="import_mode" checked={mode === "valid_rows"} onChange={() => setMode("valid_rows")} />
              Import the other rows and keep the refused ones as a file
            </label>
          </fieldset>
          {table && keys.length > 0 && (
            <label>
              Rows that match a record
              <select name="import_upsert" value={upsert} onChange={(e) => setUpsert(e.currentTarget.value)}>
                <option value="">Create every row as a new record</option>
                {keys.map((f) => <option key={f.id} value={f.name}>Update the record with the same {f.name}</option>)}
              </select>
            </label>
          )}
          <div class="row">
            {table && <button type="button" class="secondary" disabled={running.busy || isRunning} onClick={() => void start(true)}>Check for errors</button>}
            <button type="button" disabled={running.busy || isRunning || (!table && !name.trim())} onClick={() => void start(false)}>Import</button>
            {isRunning && <button type="button" class="link" onClick={cancel}>Cancel the import</button>}
            <button type="button" class="link" onClick={props.onClose}>Close</button>
          </div>
        </>
      )}
      <ErrorLine message={running.message} />
      {job && <JobState job={job} rejects={rejects} />}
      {!table && job && !job.dry_run && job.state !== "running" && (
        <p><a href={`/tables/${job.table_id}`} onClick={(e) => onLink(e, `/tables/${job.table_id}`)}>Open the new table</a></p>
      )}
    </div>
  );
}

function JobState(props: { job: ImportJob; rejects: RejectedRow[] | null }) {
  const { job, rejects } = props;
  const counts = `${job.rows_read} rows read, ${job.rows_written} ${job.dry_run ? "would be written" : "written"}` +
    (job.rows_updated ? ` (${job.rows_updated} of them updates)` : "") + `, ${job.rows_rejected} refused`;
  return (
    <div class="import-job" aria-live="polite">
      {job.state === "running" ? (
        <>
          <progress aria-label="Import progress" max={1} value={job.share_read ?? undefined} />
          <p role="status">
            Importing… {counts}
            {job.estimated_seconds_left !== null ? `, about ${job.estimated_seconds_left} s left` : ""}
          </p>
        </>
      ) : (
        <p role="status" class={job.state === "done" && job.rows_rejected === 0 ? "status" : "error"}>
          {job.dry_run ? "Check finished" : job.state === "done" ? "Import finished" : `Import ${job.state}`}: {counts}.
          {job.message ? ` ${job.message}` : ""}
        </p>
      )}
      {rejects && rejects.length > 0 && (
        <>
          <table class="import-rejects" aria-label="Refused rows">
            <thead><tr><th scope="col">Row</th><th scope="col">Column</th><th scope="col">Problem</th></tr></thead>
            <tbody>
              {rejects.flatMap((r) =>
                r.errors.map((e, i) => (
                  <tr key={`${r.row}-${i}`}>
                    <td>{r.row}</td>
                    <td>{e.column ?? "(row)"}</td>
                    <td>{e.message} <span class="muted small">({e.code})</span></td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
          <a class="button-link" href={`/api/v1/imports/${job.id}/rejects`} download>Download the refused rows</a>
        </>
      )}
    </div>
  );
}
