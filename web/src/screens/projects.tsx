import { useEffect, useState } from "preact/hooks";
import { del, get, patch, post, type Project } from "../api";
import { navigate, onLink } from "../router";
import { Empty, ErrorLine, useAction } from "../ui";

export function Projects() {
  const [projects, setProjects] = useState<Project[] | null>(null);
  const [name, setName] = useState("");
  const load = useAction();
  const create = useAction();
  const refresh = () => load.run(async () => setProjects(await get<Project[]>("/api/v1/projects")));
  useEffect(() => void refresh(), []);

  const submit = (e: Event) => {
    e.preventDefault();
    void create.run(async () => {
      const p = await post<Project>("/api/v1/projects", { name });
      setName("");
      navigate(`/projects/${p.id}`);
    });
  };

  return (
    <section>
      <h1>Projects</h1>
      <ErrorLine message={load.message} />
      {projects === null ? (
        <p class="loading" aria-busy="true">Loading projects…</p>
      ) : projects.length === 0 ? (
        <Empty>No projects yet. Create the first one below.</Empty>
      ) : (
        <ul class="list">
          {projects.map((p) => (
            <ProjectRow key={p.id} project={p} onChanged={refresh} />
          ))}
        </ul>
      )}
      <form class="inline" onSubmit={submit}>
        <label>
          New project
          <input name="project_name" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={create.busy}>Create project</button>
      </form>
      <ErrorLine message={create.message} />
    </section>
  );
}

function ProjectRow(props: { project: Project; onChanged: () => void }) {
  const p = props.project;
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(p.name);
  const action = useAction();
  const canAdmin = p.role === "owner" || p.role === "admin";

  const rename = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      await patch(`/api/v1/projects/${p.id}`, { name });
      setEditing(false);
      props.onChanged();
    });
  };
  const remove = () => {
    if (!confirm(`Delete the project “${p.name}” with all its tables and records?`)) return;
    void action.run(async () => {
      await del(`/api/v1/projects/${p.id}`);
      props.onChanged();
    });
  };

  return (
    <li>
      {editing ? (
        <form class="inline" onSubmit={rename}>
          <input aria-label="Project name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <button type="submit" disabled={action.busy}>Save</button>
          <button type="button" class="link" onClick={() => setEditing(false)}>Cancel</button>
        </form>
      ) : (
        <>
          <a href={`/projects/${p.id}`} onClick={(e) => onLink(e, `/projects/${p.id}`)}>{p.name}</a>
          <span class="muted">{p.role ?? "no role"}</span>
          {canAdmin && (
            <span class="actions">
              <button type="button" class="link" onClick={() => setEditing(true)}>Rename</button>
              <button type="button" class="link danger" onClick={remove}>Delete</button>
            </span>
          )}
        </>
      )}
      <ErrorLine message={action.message} />
    </li>
  );
}
