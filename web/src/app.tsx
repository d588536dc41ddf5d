import { useEffect, useState } from "preact/hooks";
import { ApiProblem, get, post, type Me } from "./api";
import { match, navigate, onLink, usePath } from "./router";
import { SignIn } from "./screens/signin";
import { Setup } from "./screens/setup";
import { Projects } from "./screens/projects";
import { ProjectScreen } from "./screens/project";
import { TableScreen } from "./screens/table";
import { Account } from "./screens/account";
import { AccessScreen } from "./screens/access";
import { Users } from "./screens/users";
import { Audit } from "./screens/audit";
import { RecordScreen } from "./screens/record";
import { Notice } from "./ui";

export function App() {
  const path = usePath();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);

  const refresh = async () => {
    try {
      setMe(await get<Me>("/api/v1/me"));
      setError(null);
    } catch (e) {
      if (e instanceof ApiProblem && e.status === 401) setMe(null);
      else setError(e instanceof Error ? e.message : String(e));
    }
  };
  useEffect(() => void refresh(), []);

  if (path === "/setup") {
    return <Setup onDone={async () => { await refresh(); navigate("/", true); }} />;
  }
  if (error) return <Notice kind="error">{error}</Notice>;
  if (me === undefined) return <p class="loading" aria-busy="true">Loading…</p>;
  if (me === null) return <SignIn onSignedIn={refresh} />;

  const signOut = async () => {
    await post("/api/v1/auth/logout").catch(() => undefined);
    setMe(null);
    navigate("/", true);
  };

  let screen;
  let params;
  const tenantAdmin = me.role === "owner" || me.role === "admin";
  if ((params = match("/projects/:id", path))) screen = <ProjectScreen projectId={params.id!} />;
  else if ((params = match("/projects/:id/access", path))) screen = <AccessScreen projectId={params.id!} />;
  else if (path === "/admin/users" && tenantAdmin) screen = <Users me={me} />;
  else if (path === "/admin/audit" && tenantAdmin) screen = <Audit />;
  else if ((params = match("/tables/:id", path))) screen = <TableScreen tableId={params.id!} />;
  else if ((params = match("/tables/:table/records/:record", path))) {
    screen = <RecordScreen tableId={params.table!} recordId={params.record!} />;
  }
  else if (path === "/account") screen = <Account me={me} onChanged={refresh} />;
  else screen = <Projects />;

  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href="/" onClick={(e) => onLink(e, "/")}>Rampart</a>
        <nav>
          {tenantAdmin && <a href="/admin/users" onClick={(e) => onLink(e, "/admin/users")}>Users</a>}
          {tenantAdmin && <a href="/admin/audit" onClick={(e) => onLink(e, "/admin/audit")}>Audit</a>}
          <a href="/account" onClick={(e) => onLink(e, "/account")}>{me.display_name}</a>
          <button type="button" class="link" onClick={signOut}>Sign out</button>
        </nav>
      </header>
      {me.second_factor_required && !me.second_factor && path !== "/account" && (
        <Notice kind="warn">
          This workspace requires a second factor. <a href="/account" onClick={(e) => onLink(e, "/account")}>Set one up</a> to continue.
        </Notice>
      )}
      <main>{screen}</main>
    </div>
  );
}
