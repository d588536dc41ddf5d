// Small building blocks shared by the screens.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { describe } from "./api";

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
