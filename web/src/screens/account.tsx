// The signed-in person's own security: second factor, sessions and API tokens. Changes that
// need a recent password ask for it in place and then retry.
import { useEffect, useState } from "preact/hooks";
import { del, get, post, type Me } from "../api";
import { ErrorLine, Notice, useAction, useRecentAuth } from "../ui";
import { createPasskey, passkeysSupported } from "../webauthn";

interface Session { id: string; created_at: string; last_seen_at: string; ip: string | null; user_agent: string | null; current: boolean }
interface Token { id: string; name: string; access: string; created_at: string; expires_at: string; last_used_at: string | null; rotated_at: string | null }
interface Factors { totp: boolean; passkeys: number; recovery_codes_left: number; required: boolean }

export function Account(props: { me: Me; onChanged: () => void }) {
  return (
    <section>
      <h1>Your account</h1>
      <p class="muted">{props.me.email} · {props.me.role}</p>
      <SecondFactor onChanged={props.onChanged} />
      {passkeysSupported() && <Passkeys onChanged={props.onChanged} />}
      <Sessions />
      <Tokens />
    </section>
  );
}

function SecondFactor(props: { onChanged: () => void }) {
  const [factors, setFactors] = useState<Factors | null>(null);
  const [enrolment, setEnrolment] = useState<{ secret: string; uri: string } | null>(null);
  const [code, setCode] = useState("");
  const [codes, setCodes] = useState<string[] | null>(null);
  const action = useAction();
  const { guard, prompt } = useRecentAuth();
  const refresh = async () => setFactors(await get<Factors>("/api/v1/me/second-factors"));
  useEffect(() => void action.run(refresh), []);

  const start = () => action.run(() => guard(async () => setEnrolment(await post("/api/v1/me/second-factors/totp"))));
  const confirm = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const answer = await post<{ recovery_codes: string[] }>("/api/v1/me/second-factors/totp/confirm", { code: code.trim() });
      setCodes(answer.recovery_codes);
      setEnrolment(null);
      setCode("");
      await refresh();
      props.onChanged();
    });
  };
  const newCodes = () =>
    action.run(() => guard(async () => {
      setCodes((await post<{ recovery_codes: string[] }>("/api/v1/me/second-factors/recovery-codes")).recovery_codes);
      await refresh();
    }));
  const remove = () => {
    if (!window.confirm("Turn off the authenticator app for this account?")) return;
    void action.run(() => guard(async () => { await del("/api/v1/me/second-factors/totp"); await refresh(); props.onChanged(); }));
  };

  return (
    <div class="card">
      <h2>Two-factor sign-in</h2>
      {factors === null ? <p class="loading">Loading…</p> : factors.totp ? (
        <p>Authenticator app: <strong>on</strong> · {factors.recovery_codes_left} recovery codes left ·{" "}
          <button type="button" class="link" onClick={() => void newCodes()}>New recovery codes</button> ·{" "}
          <button type="button" class="link danger" onClick={remove}>Turn off</button></p>
      ) : enrolment ? (
        <form onSubmit={confirm} aria-label="Confirm the authenticator app">
          <p>Add this key to your authenticator app, then enter the code it shows.</p>
          <p><code class="secret" data-testid="totp-secret">{enrolment.secret}</code></p>
          <p class="small"><a href={enrolment.uri} data-testid="totp-uri">Open in an authenticator app</a></p>
          <label>Code
            <input name="totp_code" inputMode="numeric" autocomplete="one-time-code" required value={code}
              onInput={(e) => setCode(e.currentTarget.value)} />
          </label>
          <button type="submit" disabled={action.busy}>Turn on</button>
        </form>
      ) : (
        <p>Authenticator app: off · <button type="button" onClick={() => void start()}>Set up an authenticator app</button></p>
      )}
      {codes && (
        <Notice kind="info">
          Recovery codes, shown once. Keep them somewhere safe; each works once.
          <ul class="codes" data-testid="recovery-codes">{codes.map((c) => <li key={c}><code>{c}</code></li>)}</ul>
        </Notice>
      )}
      {prompt}
      <ErrorLine message={action.message} />
    </div>
  );
}

function Sessions() {
  const [sessions, setSessions] = useState<Session[] | null>(null);
  const action = useAction();
  const refresh = async () => setSessions(await get<Session[]>("/api/v1/me/sessions"));
  useEffect(() => void action.run(refresh), []);
  return (
    <div class="card">
      <h2>Sessions</h2>
      {sessions === null ? <p class="loading">Loading…</p> : (
        <table class="plain">
          <thead><tr><th>Signed in</th><th>Last seen</th><th>Address</th><th>Browser</th><th /></tr></thead>
          <tbody>
            {sessions.map((s) => (
              <tr key={s.id}>
                <td>{new Date(s.created_at).toLocaleString()}</td>
                <td>{new Date(s.last_seen_at).toLocaleString()}</td>
                <td>{s.ip ?? "—"}</td>
                <td class="ellipsis">{s.user_agent ?? "—"}</td>
                <td>{s.current ? <span class="muted">this session</span> : (
                  <button type="button" class="link danger" onClick={() => void action.run(async () => { await del(`/api/v1/me/sessions/${s.id}`); await refresh(); })}>Revoke</button>
                )}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ErrorLine message={action.message} />
    </div>
  );
}

function Tokens() {
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [name, setName] = useState("");
  const [readOnly, setReadOnly] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  const action = useAction();
  const { guard, prompt } = useRecentAuth();
  const refresh = async () => setTokens(await get<Token[]>("/api/v1/tokens"));
  useEffect(() => void action.run(refresh), []);

  const create = (e: Event) => {
    e.preventDefault();
    void action.run(() => guard(async () => {
      const body: Record<string, unknown> = { name };
      if (readOnly) body.access = "read";
      const answer = await post<{ secret: string }>("/api/v1/tokens", body);
      setSecret(answer.secret);
      setName("");
      await refresh();
    }));
  };
  const rotate = (t: Token) => action.run(() => guard(async () => {
    setSecret((await post<{ secret: string }>(`/api/v1/tokens/${t.id}/rotate`)).secret);
    await refresh();
  }));
  const revoke = (t: Token) => {
    if (!window.confirm(`Revoke the token “${t.name}”? Scripts using it stop working.`)) return;
    void action.run(() => guard(async () => { await del(`/api/v1/tokens/${t.id}`); await refresh(); }));
  };

  return (
    <div class="card">
      <h2>API tokens</h2>
      {secret && (
        <Notice kind="info">
          The new token, shown once: <code class="secret" data-testid="token-secret">{secret}</code>
          <button type="button" class="link" onClick={() => setSecret(null)}>Done</button>
        </Notice>
      )}
      {tokens === null ? <p class="loading">Loading…</p> : tokens.length === 0 ? <p class="muted">No tokens.</p> : (
        <table class="plain">
          <thead><tr><th>Name</th><th>Access</th><th>Expires</th><th>Last used</th><th /></tr></thead>
          <tbody>
            {tokens.map((t) => (
              <tr key={t.id}>
                <td>{t.name}</td><td>{t.access.replace("_", "/")}</td>
                <td>{t.rotated_at ? `replaced; works until ${new Date(t.expires_at).toLocaleString()}` : new Date(t.expires_at).toLocaleDateString()}</td>
                <td>{t.last_used_at ? new Date(t.last_used_at).toLocaleString() : "never"}</td>
                <td>
                  {!t.rotated_at && <button type="button" class="link" onClick={() => void rotate(t)}>Rotate</button>}
                  <button type="button" class="link danger" onClick={() => revoke(t)}>Revoke</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="inline" onSubmit={create}>
        <label>Token name<input name="token_name" required value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
        <label class="check"><input type="checkbox" checked={readOnly} onChange={(e) => setReadOnly(e.currentTarget.checked)} /> read only</label>
        <button type="submit" disabled={action.busy}>Create token</button>
      </form>
      {prompt}
      <ErrorLine message={action.message} />
    </div>
  );
}

interface Passkey { id: string; name: string; created_at: string; last_used_at: string | null }

function Passkeys(props: { onChanged: () => void }) {
  const [passkeys, setPasskeys] = useState<Passkey[] | null>(null);
  const [name, setName] = useState("");
  const [codes, setCodes] = useState<string[] | null>(null);
  const action = useAction();
  const { guard, prompt } = useRecentAuth();
  const refresh = async () => setPasskeys(await get<Passkey[]>("/api/v1/me/passkeys"));
  useEffect(() => void action.run(refresh), []);

  const add = (e: Event) => {
    e.preventDefault();
    void action.run(() => guard(async () => {
      const ceremony = await post<{ ceremony_id: string; options: Record<string, unknown> }>("/api/v1/me/passkeys/registrations");
      const credential = await createPasskey(ceremony.options);
      const answer = await post<{ recovery_codes?: string[] | null }>("/api/v1/me/passkeys", {
        ceremony_id: ceremony.ceremony_id, name: name.trim() || "Passkey", credential,
      });
      if (answer.recovery_codes) setCodes(answer.recovery_codes);
      setName("");
      await refresh();
      props.onChanged();
    }));
  };
  const remove = (p: Passkey) => {
    if (!window.confirm(`Remove the passkey “${p.name}”?`)) return;
    void action.run(() => guard(async () => { await del(`/api/v1/me/passkeys/${p.id}`); await refresh(); props.onChanged(); }));
  };

  return (
    <div class="card">
      <h2>Passkeys</h2>
      <p class="muted">A passkey signs you in without a password, or serves as your second factor.</p>
      {passkeys === null ? <p class="loading">Loading…</p> : passkeys.length === 0 ? <p class="muted">No passkeys.</p> : (
        <ul class="list">
          {passkeys.map((p) => (
            <li key={p.id}>
              <strong>{p.name}</strong>
              <span class="muted">added {new Date(p.created_at).toLocaleDateString()}{p.last_used_at ? `, last used ${new Date(p.last_used_at).toLocaleString()}` : ""}</span>
              <span class="actions"><button type="button" class="link danger" onClick={() => remove(p)}>Remove</button></span>
            </li>
          ))}
        </ul>
      )}
      <form class="inline" onSubmit={add}>
        <label>Passkey name<input name="passkey_name" placeholder="e.g. Laptop" value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
        <button type="submit" disabled={action.busy}>Add a passkey</button>
      </form>
      {codes && (
        <Notice kind="info">
          Recovery codes, shown once. Keep them somewhere safe; each works once.
          <ul class="codes">{codes.map((c) => <li key={c}><code>{c}</code></li>)}</ul>
        </Notice>
      )}
      {prompt}
      <ErrorLine message={action.message} />
    </div>
  );
}
