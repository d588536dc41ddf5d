// The tenant's OpenID Connect identity providers. A client secret is typed once and never
// shown again: the server answers with its fingerprint only.
import { useEffect, useState } from "preact/hooks";
import { ApiProblem, del, get, patch, post } from "../api";
import { ErrorLine, useAction, useRecentAuth } from "../ui";

interface Provider {
  id: string; name: string; protocol: string; issuer: string; client_id: string;
  scopes: string[]; client_secret_fingerprint: string; updated_at: string;
}

const EMPTY = { name: "", issuer: "", client_id: "", client_secret: "", scopes: "openid email profile" };
const words = (text: string) => text.split(/\s+/).filter(Boolean);

export function IdentityProviders() {
  const [providers, setProviders] = useState<Provider[] | null>(null);
  const [draft, setDraft] = useState(EMPTY);
  const [replacing, setReplacing] = useState<string | null>(null);
  const [secret, setSecret] = useState("");
  const load = useAction();
  const create = useAction();
  const change = useAction();
  const { guard, prompt } = useRecentAuth();
  const refresh = async () => setProviders(await get<Provider[]>("/api/v1/identity-providers"));
  useEffect(() => void load.run(refresh), []);

  const problem = create.error instanceof ApiProblem ? create.error : null;
  const at = (field: string) => problem?.errors.filter((e) => e.field === field).map((e) => e.message).join("; ");
  const bind = (field: keyof typeof EMPTY) => ({
    name: `idp_${field}`, required: true, value: draft[field],
    onInput: (e: Event) => setDraft({ ...draft, [field]: (e.currentTarget as HTMLInputElement).value }),
  });
  const labelled = (field: keyof typeof EMPTY, label: string, control: preact.JSX.Element) => (
    <label>{label}
      {control}
      {at(field) && <span class="error" role="alert">{at(field)}</span>}
    </label>
  );
  const submit = (e: Event) => {
    e.preventDefault();
    void create.run(() => guard(async () => {
      await post("/api/v1/identity-providers", { ...draft, scopes: words(draft.scopes) });
      setDraft(EMPTY);
      await refresh();
    }));
  };
  const replaceSecret = (p: Provider) => (e: Event) => {
    e.preventDefault();
    void change.run(() => guard(async () => {
      await patch(`/api/v1/identity-providers/${p.id}`, { client_secret: secret });
      setReplacing(null);
      setSecret("");
      await refresh();
    }));
  };
  const remove = (p: Provider) => {
    if (!confirm(`Delete the identity provider “${p.name}”?`)) return;
    void change.run(() => guard(async () => { await del(`/api/v1/identity-providers/${p.id}`); await refresh(); }));
  };

  return (
    <div class="card" aria-label="Identity providers">
      <h2>Identity providers</h2>
      <p class="muted">OpenID Connect providers for single sign-on. Client secrets are sealed and never shown again.</p>
      <ErrorLine message={load.message} />
      {providers === null ? <p class="loading">Loading…</p> : providers.length === 0 ? <p class="muted">No identity providers yet.</p> : (
        <table class="plain">
          <thead><tr><th>Name</th><th>Issuer</th><th>Client id</th><th>Scopes</th><th>Secret</th><th /></tr></thead>
          <tbody>
            {providers.map((p) => (
              <tr key={p.id}>
                <td>{p.name}</td>
                <td>{p.issuer}</td>
                <td>{p.client_id}</td>
                <td>{p.scopes.join(" ")}</td>
                <td>
                  {replacing === p.id ? (
                    <form class="inline" onSubmit={replaceSecret(p)} aria-label={`New secret for ${p.name}`}>
                      <input name="idp_new_secret" type="password" autocomplete="off" required aria-label="New client secret"
                        value={secret} onInput={(e) => setSecret(e.currentTarget.value)} />
                      <button type="submit" class="secondary" disabled={change.busy}>Save secret</button>
                      <button type="button" class="link" onClick={() => { setReplacing(null); setSecret(""); }}>Cancel</button>
                    </form>
                  ) : (
                    <>
                      <code title="Fingerprint of the client secret">{p.client_secret_fingerprint}</code>
                      <button type="button" class="link" onClick={() => setReplacing(p.id)}>Replace</button>
                    </>
                  )}
                </td>
                <td><button type="button" class="link danger" onClick={() => remove(p)}>Delete</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ErrorLine message={change.message} />
      <form onSubmit={submit} aria-label="New identity provider">
        <div class="inline">
          {labelled("name", "Name", <input type="text" {...bind("name")} />)}
          {labelled("issuer", "Issuer URL", <input type="url" {...bind("issuer")} />)}
          {labelled("client_id", "Client id", <input type="text" {...bind("client_id")} />)}
          {labelled("client_secret", "Client secret", <input type="password" autocomplete="off" {...bind("client_secret")} />)}
          {labelled("scopes", "Scopes", <input type="text" {...bind("scopes")} />)}
        </div>
        <ErrorLine message={problem && problem.errors.length ? null : create.message} />
        <button type="submit" class="secondary" disabled={create.busy}>Add identity provider</button>
      </form>
      {prompt}
    </div>
  );
}
