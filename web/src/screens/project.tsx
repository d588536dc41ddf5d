import { useEffect, useState } from "preact/hooks";
import { ApiProblem, del, get, patch, post, type Project, type Table } from "../api";
import { navigate, onLink } from "../router";
import { Empty, ErrorLine, NamedRow, useAction } from "../ui";
import { emptyDraft, fieldBody, FieldEditor, type FieldDraft } from "./fields";
import { ImportWizard } from "./import";

export function ProjectScreen(props: { projectId: string }) {
  const id = props.projectId;
  const [project, setProject] = useState<Project | null>(null);
  const [tables, setTables] = useState<Table[] | null>(null);
  const [importing, setImporting] = useState(false);
  const load = useAction();
  const refresh = () =>
    load.run(async () => {
      const [p, t] = await Promise.all([
        get<Project>(`/api/v1/projects/${id}`),
        get<Table[]>(`/api/v1/projects/${id}/tables`),
      ]);
      setProject(p);
      setTables(t);
    });
  useEffect(() => void refresh(), [id]);

  if (load.error instanceof ApiProblem && load.error.status === 404) {
    return <Empty>This project does not exist, or you have no access to it.</Empty>;
  }
  const canBuild = project?.role === "owner" || project?.role === "admin";
  return (
    <section>
      <p class="crumbs"><a href="/" onClick={(e) => onLink(e, "/")}>Projects</a> /</p>
      <h1>{project?.name ?? "…"}</h1>
      {canBuild && (
        <p><a href={`/projects/${id}/access`} onClick={(e) => onLink(e, `/projects/${id}/access`)}>Members and permissions</a></p>
      )}
      <ErrorLine message={load.message} />
      {tables === null ? (
        <p class="loading" aria-busy="true">Loading tables…</p>
      ) : tables.length === 0 ? (
        <Empty>{canBuild ? "No tables yet. Create one below." : "No tables you can see yet."}</Empty>
      ) : (
        <ul class="list">
          {tables.map((t) => <TableRow key={t.id} table={t} canBuild={canBuild} onChanged={refresh} />)}
        </ul>
      )}
      {canBuild && tables && (importing ? (
        <ImportWizard target={{ projectId: id }} onClose={() => setImporting(false)}
          onFinished={(job) => job.rows_rejected === 0 && navigate(`/tables/${job.table_id}`)} />
      ) : (
        <p><button type="button" class="secondary" onClick={() => setImporting(true)}>Import a file as a new table</button></p>
      ))}
      {canBuild && tables && <NewTable projectId={id} tables={tables} />}
    </section>
  );
}

function TableRow(props: { table: Table; canBuild: boolean; onChanged: () => void }) {
  const t = props.table;
  return (
    <NamedRow name={t.name} href={`/tables/${t.id}`} kind="Table" detail={`${t.fields.length} fields`}
      canManage={props.canBuild} deleteQuestion={`Delete the table “${t.name}” and all its records?`}
      rename={(name) => patch(`/api/v1/tables/${t.id}`, { name })}
      remove={() => del(`/api/v1/tables/${t.id}`)} onChanged={props.onChanged} />
  );
}

function NewTable(props: { projectId: string; tables: Table[] }) {
  const [name, setName] = useState("");
  const [drafts, setDrafts] = useState<FieldDraft[]>([emptyDraft()]);
  const action = useAction();
  const problem = action.error instanceof ApiProblem ? action.error : null;

  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const t = await post<Table>(`/api/v1/projects/${props.projectId}/tables`, {
        name,
        fields: drafts.filter((d) => d.name.trim()).map(fieldBody),
      });
      navigate(`/tables/${t.id}`);
    });
  };
  const fieldError = (i: number) =>
    problem?.errors.filter((e) => e.field.startsWith(`fields[${i}]`)).map((e) => e.message).join("; ") || undefined;

  return (
    <form class="card" onSubmit={submit}>
      <h2>New table</h2>
      <label>
        Table name
        <input name="table_name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      {drafts.map((d, i) => (
        <FieldEditor key={i} index={i} draft={d} tables={props.tables} error={fieldError(i)}
          onChange={(nd) => setDrafts(drafts.map((x, j) => (j === i ? nd : x)))} />
      ))}
      <div class="row">
        <button type="button" class="secondary" onClick={() => setDrafts([...drafts, emptyDraft()])}>Add a field</button>
        <button type="submit" disabled={action.busy}>Create table</button>
      </div>
      <ErrorLine message={action.message} />
    </form>
  );
}
