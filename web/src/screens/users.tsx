// Tenant administration: accounts (create, role, disable) and the tenant's sign-in rules.
import { useEffect, useState } from "preact/hooks";
import { del, get, patch, post, put, type Me, type User } from "../api";
import { ErrorLine, useAction, useRecentAuth } from "../ui";
import { IdentityProviders } from "./identity_providers";
import { Network } from "./network";

interface SecuritySettings {
  require_second_factor: boolean;
  disable_inactive_after_days?: number;
}

export function Users(props: { me: Me }) {
  const [users, setUsers] = useState<User[] | null>(null);
  const [draft, setDraft] = useState({ email: "", display_name: "", password: "", role: "member" });
  const load = useAction();
  const create = useAction();
  const { guard, prompt } = useRecentAuth();
  const refresh = () => load.run(async () => setUsers(await get<User[]>("/api/v1/users")));
  useEffect(() => void refresh(), []);

  const submit = (e: Event) => {
    e.preventDefault();
    void create.run(() => guard(async () => {
      await post("/api/v1/users", draft);
      setDraft({ email: "", display_name: "", password: "", role: "member" });
      await refresh();
    }));
  };
  const change = (u: User, body: Record<string, unknown>) =>
    load.run(() => guard(async () => { await patch(`/api/v1/users/${u.id}`, body); await refresh(); }));

  return (
    <section>
      <h1>Users</h1>
      <ErrorLine message={load.message} />
      {users === null ? <p class="loading">Loading users…</p> : (
        <table class="plain">
          <thead><tr><th>Name</th><th>Email</th><th>Role</th><th>Status</th></tr></thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id}>
                <td>{u.display_name}</td>
                <td>{u.email}</td>
                <td>
                  {u.id === props.me.id ? u.role : (
                    <select aria-label={`Role of ${u.email}`} value={u.role} onChange={(e) => void change(u, { role: e.currentTarget.value })}>
                      <option value="member">member</option>
                      <option value="admin">admin</option>
                      {props.me.role === "owner" && <option value="owner">owner</option>}
                    </select>
                  )}
                </td>
                <td>
                  {u.disabled ? "disabled" : "active"}
                  {u.id !== props.me.id && (
                    <button type="button" class="link" onClick={() => void change(u, { disabled: !u.disabled })}>
                      {u.disabled ? "Enable" : "Disable"}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="card" onSubmit={submit} aria-label="New user">
        <h2>New user</h2>
        <div class="inline">
          <label>Email<input name="new_email" type="email" required value={draft.email} onInput={(e) => setDraft({ ...draft, email: e.currentTarget.value })} /></label>
          <label>Name<input name="new_name" required value={draft.display_name} onInput={(e) => setDraft({ ...draft, display_name: e.currentTarget.value })} /></label>
          <label>Initial password<input name="new_password" type="password" autocomplete="new-password" minLength={12} required value={draft.password} onInput={(e) => setDraft({ ...draft, password: e.currentTarget.value })} /></label>
          <label>Role
            <select name="new_role" value={draft.role} onChange={(e) => setDraft({ ...draft, role: e.currentTarget.value })}>
              <option value="member">member</option>
              <option value="admin">admin</option>
            </select>
          </label>
          <button type="submit" disabled={create.busy}>Create user</button>
        </div>
        <ErrorLine message={create.message} />
      </form>
      {prompt}
      {users && <Groups users={users} />}
      <Security />
      <Network />
      <IdentityProviders />
    </section>
  );
}

function Security() {
  const [settings, setSettings] = useState<SecuritySettings | null>(null);
  const [saved, setSaved] = useState(false);
  const action = useAction();
  const { guard, prompt } = useRecentAuth();
  useEffect(() => void action.run(async () => setSettings(await get<SecuritySettings>("/api/v1/settings/security"))), []);
  if (!settings) return <ErrorLine message={action.message} />;
  const save = (body: Partial<SecuritySettings>) => {
    const before = settings;
    setSettings({ ...settings, ...body });
    setSaved(false);
    return action.run(() => guard(async () => {
      try {
        setSettings(await patch<SecuritySettings>("/api/v1/settings/security", body));
        setSaved(true);
      } catch (e) {
        setSettings(before);
        throw e;
      }
    }));
  };
  return (
    <div class="card">
      <h2>Sign-in rules</h2>
      <label class="check">
        <input type="checkbox" checked={settings.require_second_factor}
          onChange={(e) => void save({ require_second_factor: e.currentTarget.checked })} />
        Everyone must use a second factor
      </label>
      <form class="inline" onSubmit={(e) => {
        e.preventDefault();
        const days = Number(new FormData(e.currentTarget).get("days"));
        void save({ disable_inactive_after_days: days });
      }}>
        <label>Disable accounts unused for (days, 0 = never)
          <input name="days" type="number" min={0} defaultValue={String(settings.disable_inactive_after_days ?? 0)} />
        </label>
        <button type="submit" class="secondary">Save</button>
      </form>
      {saved && <p class="status" role="status">Saved.</p>}
      {prompt}
      <ErrorLine message={action.message} />
    </div>
  );
}

interface Group { id: string; name: string; members: string[] }

function Groups(props: { users: User[] }) {
  const [groups, setGroups] = useState<Group[] | null>(null);
  const [name, setName] = useState("");
  const action = useAction();
  const refresh = async () => setGroups(await get<Group[]>("/api/v1/groups"));
  useEffect(() => void action.run(refresh), []);
  // Shown at once; the server's answer (or refusal) then replaces it.
  const member = (g: Group, u: User, on: boolean) => {
    setGroups((groups ?? []).map((x) =>
      x.id === g.id ? { ...x, members: on ? [...x.members, u.id] : x.members.filter((m) => m !== u.id) } : x));
    void action.run(async () => {
      const path = `/api/v1/groups/${g.id}/members/${u.id}`;
      try {
        if (on) await put(path); else await del(path);
      } finally {
        await refresh();
      }
    });
  };
  return (
    <div class="card">
      <h2>Groups</h2>
      {groups === null ? <p class="loading">Loading…</p> : groups.length === 0 ? <p class="muted">No groups yet.</p> : (
        groups.map((g) => (
          <fieldset key={g.id} class="grant">
            <legend>{g.name}
              <button type="button" class="link danger" onClick={() => {
                if (confirm(`Delete the group “${g.name}”?`)) void action.run(async () => { await del(`/api/v1/groups/${g.id}`); await refresh(); });
              }}>Delete</button>
            </legend>
            <div class="inline">
              {props.users.map((u) => (
                <label class="check" key={u.id}>
                  <input type="checkbox" checked={g.members.includes(u.id)} onChange={(e) => member(g, u, e.currentTarget.checked)} />
                  {u.display_name}
                </label>
              ))}
            </div>
          </fieldset>
        ))
      )}
      <form class="inline" onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => { await post("/api/v1/groups", { name }); setName(""); await refresh(); });
      }}>
        <label>New group<input name="group_name" required value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
        <button type="submit" class="secondary">Create group</button>
      </form>
      <ErrorLine message={action.message} />
    </div>
  );
}
