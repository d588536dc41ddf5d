// Small building blocks shared by the screens.
import type { ComponentChildren } from "preact";
import { useRef, useState } from "preact/hooks";
import { ApiProblem, describe, post } from "./api";
import { onLink } from "./router";

export function Notice(props: { kind: "error" | "warn" | "info"; children: ComponentChildren }) {
  return (
    <div class={`notice ${props.kind}`} role={props.kind === "error" ? "alert" : "status"}>
      {props.children}
    </div>
  );
}

/** Runs an action, keeps its error for display, and disables the form while it runs. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run, message: error ? describe(error) : null, setError };
}

/**
 * Numbers the runs of an effect so that an answer to an earlier run (a slow first request
 * landing after a newer one) is dropped, never shown. `begin()` starts a new run, `join()`
 * takes part in the current one; each returns `live()`, true while no newer run began.
 */
export function useGeneration() {
  const n = useRef(0);
  const watch = (mine: number) => () => mine === n.current;
  return { begin: () => watch(++n.current), join: () => watch(n.current) };
}

export function ErrorLine(props: { message: string | null }) {
  return props.message ? <p class="error" role="alert">{props.message}</p> : null;
}

export function Empty(props: { children: ComponentChildren }) {
  return <div class="empty">{props.children}</div>;
}

/** Runs `call`; when the server asks for a recent password, asks for it and runs it again. */
export function useRecentAuth() {
  const [pending, setPending] = useState<null | (() => Promise<void>)>(null);
  const guard = async (call: () => Promise<void>) => {
    try {
      await call();
    } catch (e) {
      if (e instanceof ApiProblem && e.code === "reauthentication_required") setPending(() => call);
      else throw e;
    }
  };
  const prompt = pending ? (
    <ReauthPrompt onDone={async () => { const p = pending; setPending(null); await p(); }} onCancel={() => setPending(null)} />
  ) : null;
  return { guard, prompt };
}

function ReauthPrompt(props: { onDone: () => Promise<void>; onCancel: () => void }) {
  const [password, setPassword] = useState("");
  const action = useAction();
  return (
    <form class="card" aria-label="Confirm your password" onSubmit={(e) => {
      e.preventDefault();
      void action.run(async () => { await post("/api/v1/auth/reauth", { password }); await props.onDone(); });
    }}>
      <p>Confirm your password to continue.</p>
      <label>Password
        <input type="password" name="reauth_password" autocomplete="current-password" required value={password}
          onInput={(e) => setPassword(e.currentTarget.value)} />
      </label>
      <ErrorLine message={action.message} />
      <button type="submit" disabled={action.busy}>Confirm</button>
      <button type="button" class="link" onClick={props.onCancel}>Cancel</button>
    </form>
  );
}


/**
 * A list row for a named thing that opens at `href`: renamed in place and deleted after a
 * confirmation by those who `canManage` it (projects, tables).
 */
export function NamedRow(props: {
  name: string;
  href: string;
  kind: string;
  detail: ComponentChildren;
  canManage: boolean;
  deleteQuestion: string;
  rename: (name: string) => Promise<unknown>;
  remove: () => Promise<unknown>;
  onChanged: () => void;
}) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(props.name);
  const action = useAction();
  const rename = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      await props.rename(name);
      setEditing(false);
      props.onChanged();
    });
  };
  const remove = () => {
    if (!confirm(props.deleteQuestion)) return;
    void action.run(async () => {
      await props.remove();
      props.onChanged();
    });
  };
  return (
    <li>
      {editing ? (
        <form class="inline" onSubmit={rename}>
          <input aria-label={`${props.kind} name`} required value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <button type="submit" disabled={action.busy}>Save</button>
          <button type="button" class="link" onClick={() => setEditing(false)}>Cancel</button>
        </form>
      ) : (
        <>
          <a href={props.href} onClick={(e) => onLink(e, props.href)}>{props.name}</a>
          <span class="muted">{props.detail}</span>
          {props.canManage && (
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
