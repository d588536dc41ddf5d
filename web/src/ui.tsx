// Small building blocks shared by the screens.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { ApiProblem, describe, post } from "./api";

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

