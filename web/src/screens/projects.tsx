import { useEffect, useState } from "preact/hooks";
import { del, get, patch, post, type Project } from "../api";
import { navigate } from "../router";
import { Empty, ErrorLine, NamedRow, useAction } from "../ui";

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
  return (
    <NamedRow name={p.name} href={`/projects/${p.id}`} kind="Project" detail={p.role ?? "no role"}
      canManage={p.role === "owner" || p.role === "admin"}
      deleteQuestion={`Delete the project “${p.name}” with all its tables and records?`}
      rename={(name) => patch(`/api/v1/projects/${p.id}`, { name })}
      remove={() => del(`/api/v1/projects/${p.id}`)} onChanged={props.onChanged} />
  );
}
