// Who may do what in a project: members with roles, and permission sets (per-table
// operations, per-field access, record rules) given to users and groups. Rules are checked
// by the server's type checker when saved; its message is shown under the rule, at the
// position it names.
import { useEffect, useState } from "preact/hooks";
import { ApiProblem, del, get, post, put, type FieldError, type Project, type Table, type User } from "../api";
import { onLink } from "../router";
import { Empty, ErrorLine, useAction, useRecentAuth } from "../ui";

interface Member { user_id: string; email: string; display_name: string; role: string }
interface Group { id: string; name: string; members: string[] }
type Access = "none" | "read" | "write";
type Op = "create" | "read" | "update" | "delete";
const OPS: Op[] = ["create", "read", "update", "delete"];
interface TableGrant {
  create: boolean; read: boolean; update: boolean; delete: boolean;
  default_access: Access;
  fields: Record<string, Access>;
  rules: Partial<Record<Op, string>>;
}
interface PermissionSet { id: string; name: string; version: number; tables: Record<string, TableGrant>; users: string[]; groups: string[] }

export function AccessScreen(props: { projectId: string }) {
  const id = props.projectId;
  const [project, setProject] = useState<Project | null>(null);
  const [tables, setTables] = useState<Table[]>([]);
  const [members, setMembers] = useState<Member[] | null>(null);
  const [sets, setSets] = useState<PermissionSet[] | null>(null);
  const [users, setUsers] = useState<User[] | null>(null);
  const [groups, setGroups] = useState<Group[]>([]);
  const load = useAction();
  const refresh = () =>
    load.run(async () => {
      const [p, t, m, s] = await Promise.all([
        get<Project>(`/api/v1/projects/${id}`),
        get<Table[]>(`/api/v1/projects/${id}/tables`),
        get<Member[]>(`/api/v1/projects/${id}/members`),
        get<PermissionSet[]>(`/api/v1/projects/${id}/permission-sets`),
      ]);
      setProject(p); setTables(t); setMembers(m); setSets(s);
      // Only tenant admins list every account and group; others pick among members.
      try {
        setUsers(await get<User[]>("/api/v1/users"));
        setGroups(await get<Group[]>("/api/v1/groups"));
      } catch {
        setUsers(null);
      }
    });
  useEffect(() => void refresh(), [id]);

  const people = users ?? (members ?? []).map((m) => ({ id: m.user_id, email: m.email, display_name: m.display_name } as User));
  return (
    <section>
      <p class="crumbs">
        <a href="/" onClick={(e) => onLink(e, "/")}>Projects</a> /{" "}
        <a href={`/projects/${id}`} onClick={(e) => onLink(e, `/projects/${id}`)}>{project?.name ?? "project"}</a> /
      </p>
      <h1>Access</h1>
      <ErrorLine message={load.message} />
      <Members projectId={id} members={members} users={users} onChanged={refresh} />
      <h2>Permission sets</h2>
      <p class="muted">A permission set grants operations on tables, access to fields, and rules that decide which records. Give it to people or groups; they see the project and nothing more unless a set says so.</p>
      {sets === null ? <p class="loading">Loading…</p> : sets.length === 0 ? <Empty>No permission sets yet.</Empty> : (
        sets.map((s) => <SetEditor key={s.id} projectId={id} set={s} tables={tables} people={people} groups={groups} onChanged={refresh} />)
      )}
      <SetEditor projectId={id} tables={tables} people={people} groups={groups} onChanged={refresh} />
    </section>
  );
}

function Members(props: { projectId: string; members: Member[] | null; users: User[] | null; onChanged: () => void }) {
  const [userId, setUserId] = useState("");
  const [role, setRole] = useState("viewer");
  const action = useAction();
  const { guard, prompt } = useRecentAuth();
  const setMember = (uid: string, r: string) =>
    action.run(() => guard(async () => { await put(`/api/v1/projects/${props.projectId}/members/${uid}`, { role: r }); props.onChanged(); }));
  const remove = (m: Member) =>
    action.run(() => guard(async () => { await del(`/api/v1/projects/${props.projectId}/members/${m.user_id}`); props.onChanged(); }));
  const candidates = (props.users ?? []).filter((u) => !props.members?.some((m) => m.user_id === u.id));
  return (
    <div class="card">
      <h2>Members</h2>
      {props.members === null ? <p class="loading">Loading…</p> : (
        <table class="plain">
          <thead><tr><th>Name</th><th>Email</th><th>Role</th><th /></tr></thead>
          <tbody>
            {props.members.map((m) => (
              <tr key={m.user_id}>
                <td>{m.display_name}</td><td>{m.email}</td>
                <td>
                  <select aria-label={`Role of ${m.email}`} value={m.role} onChange={(e) => void setMember(m.user_id, e.currentTarget.value)}>
                    {["viewer", "editor", "admin", "owner"].map((r) => <option key={r} value={r}>{r}</option>)}
                  </select>
                </td>
                <td><button type="button" class="link danger" onClick={() => void remove(m)}>Remove</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {props.users && candidates.length > 0 && (
        <form class="inline" onSubmit={(e) => { e.preventDefault(); if (userId) void setMember(userId, role); }}>
          <label>Add a member
            <select name="member_user" value={userId} onChange={(e) => setUserId(e.currentTarget.value)}>
              <option value="">Choose a user</option>
              {candidates.map((u) => <option key={u.id} value={u.id}>{u.display_name} ({u.email})</option>)}
            </select>
          </label>
          <label>Role
            <select name="member_role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
              {["viewer", "editor", "admin"].map((r) => <option key={r} value={r}>{r}</option>)}
            </select>
          </label>
          <button type="submit" disabled={action.busy}>Add</button>
        </form>
      )}
      {prompt}
      <ErrorLine message={action.message} />
    </div>
  );
}

const emptyGrant = (): TableGrant => ({
  create: false, read: true, update: false, delete: false, default_access: "write", fields: {}, rules: {},
});

function SetEditor(props: {
  projectId: string;
  set?: PermissionSet;
  tables: Table[];
  people: User[];
  groups: Group[];
  onChanged: () => void;
}) {
  const original = props.set;
  const [open, setOpen] = useState(false);
  const [name, setName] = useState(original?.name ?? "");
  const [grants, setGrants] = useState<Record<string, TableGrant>>(original?.tables ?? {});
  const action = useAction();
  const assign = useAction();
  const problem = action.error instanceof ApiProblem ? action.error : null;
  useEffect(() => { setName(original?.name ?? ""); setGrants(original?.tables ?? {}); }, [original?.version]);
  // Holders change at once on screen; a refusal puts them back.
  const [held, setHeld] = useState({ users: original?.users ?? [], groups: original?.groups ?? [] });
  useEffect(
    () => setHeld({ users: original?.users ?? [], groups: original?.groups ?? [] }),
    [original?.users.join(), original?.groups.join()],
  );

  const errorAt = (path: string): FieldError | undefined => problem?.errors.find((e) => e.field === path);
  const setGrant = (tableId: string, g: TableGrant | null) => {
    const next = { ...grants };
    if (g) next[tableId] = g;
    else delete next[tableId];
    setGrants(next);
  };
  const save = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const body = { name, tables: grants };
      if (original) await put(`/api/v1/permission-sets/${original.id}`, body);
      else {
        await post(`/api/v1/projects/${props.projectId}/permission-sets`, body);
        setName(""); setGrants({}); setOpen(false);
      }
      props.onChanged();
    });
  };
  const remove = () => {
    if (!original || !confirm(`Delete the permission set “${original.name}”? Its holders lose what it grants.`)) return;
    void action.run(async () => { await del(`/api/v1/permission-sets/${original.id}`); props.onChanged(); });
  };
  const toggleHolder = (kind: "users" | "groups", holder: string, on: boolean) => {
    if (!original) return;
    const before = held;
    setHeld({ ...held, [kind]: on ? [...held[kind], holder] : held[kind].filter((h) => h !== holder) });
    void assign.run(async () => {
      const path = `/api/v1/permission-sets/${original.id}/${kind}/${holder}`;
      try {
        if (on) await put(path); else await del(path);
      } catch (e) {
        setHeld(before);
        throw e;
      }
      props.onChanged();
    });
  };

  if (!original && !open) {
    return <button type="button" class="secondary" onClick={() => setOpen(true)}>New permission set</button>;
  }
  return (
    <form class="card set-editor" onSubmit={save} aria-label={original ? `Permission set ${original.name}` : "New permission set"}>
      <label>Set name<input name="set_name" required value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
      {props.tables.map((t) => {
        const g = grants[t.id];
        const base = `tables.${t.id}`;
        return (
          <fieldset key={t.id} class="grant">
            <legend>
              <label class="check">
                <input type="checkbox" checked={Boolean(g)} onChange={(e) => setGrant(t.id, e.currentTarget.checked ? emptyGrant() : null)} />
                Table <strong>{t.name}</strong>
              </label>
            </legend>
            {g && (
              <>
                <div class="inline">
                  {OPS.map((op) => (
                    <label class="check" key={op}>
                      <input type="checkbox" name={`${t.name}_${op}`} checked={g[op]} onChange={(e) => setGrant(t.id, { ...g, [op]: e.currentTarget.checked })} />
                      {op}
                    </label>
                  ))}
                </div>
                {OPS.filter((op) => g[op]).map((op) => {
                  const err = errorAt(`${base}.rules.${op}`);
                  const text = g.rules[op] ?? "";
                  return (
                    <label key={op}>
                      Rule for {op} (empty: every record)
                      <input name={`${t.name}_rule_${op}`} spellcheck={false} placeholder="e.g. owner = @user.id" value={text}
                        aria-invalid={err ? true : undefined}
                        onInput={(e) => {
                          const rules = { ...g.rules };
                          const v = e.currentTarget.value;
                          if (v.trim()) rules[op] = v; else delete rules[op];
                          setGrant(t.id, { ...g, rules });
                        }} />
                      {err && (
                        <span class="error" role="alert">
                          {err.message}
                          {err.position !== undefined && <code class="at">{text.slice(0, err.position)}<mark>{text.slice(err.position) || " "}</mark></code>}
                        </span>
                      )}
                    </label>
                  );
                })}
                <details>
                  <summary>Field access</summary>
                  <label>Fields not listed
                    <select value={g.default_access} onChange={(e) => setGrant(t.id, { ...g, default_access: e.currentTarget.value as Access })}>
                      <option value="none">hidden</option><option value="read">read</option><option value="write">read and write</option>
                    </select>
                  </label>
                  {t.fields.map((f) => (
                    <label key={f.id}>{f.name}
                      <select name={`${t.name}_field_${f.name}`} value={g.fields[f.id] ?? ""} onChange={(e) => {
                        const fields = { ...g.fields };
                        const v = e.currentTarget.value as Access | "";
                        if (v) fields[f.id] = v; else delete fields[f.id];
                        setGrant(t.id, { ...g, fields });
                      }}>
                        <option value="">as above</option><option value="none">hidden</option><option value="read">read</option><option value="write">read and write</option>
                      </select>
                    </label>
                  ))}
                </details>
              </>
            )}
          </fieldset>
        );
      })}
      <ErrorLine message={problem && problem.errors.length ? null : action.message} />
      <div class="row">
        <button type="submit" disabled={action.busy}>{original ? "Save set" : "Create set"}</button>
        {original ? <button type="button" class="link danger" onClick={remove}>Delete set</button>
          : <button type="button" class="link" onClick={() => setOpen(false)}>Cancel</button>}
      </div>
      {original && (
        <div class="holders">
          <h3>Given to</h3>
          <div class="inline">
            {props.people.map((u) => (
              <label class="check" key={u.id}>
                <input type="checkbox" aria-label={`Give ${original.name} to ${u.email}`} checked={held.users.includes(u.id)}
                  onChange={(e) => toggleHolder("users", u.id, e.currentTarget.checked)} />
                {u.display_name}
              </label>
            ))}
            {props.groups.map((g) => (
              <label class="check" key={g.id}>
                <input type="checkbox" checked={held.groups.includes(g.id)} onChange={(e) => toggleHolder("groups", g.id, e.currentTarget.checked)} />
                group {g.name}
              </label>
            ))}
          </div>
          <ErrorLine message={assign.message} />
        </div>
      )}
    </form>
  );
}
