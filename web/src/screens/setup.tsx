import { useState } from "preact/hooks";
import { post } from "../api";
import { ErrorLine, Notice, useAction } from "../ui";

/**
 * First run: the owner account, from the one-time link the server prints. The token is in
 * the URL's fragment, which browsers never send, so it reaches no log on the way.
 */
export function Setup(props: { onDone: () => Promise<void> }) {
  const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
  const [email, setEmail] = useState("");
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const action = useAction();

  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      await post("/api/v1/setup", { token, email, password, display_name: name || null });
      await post("/api/v1/auth/login", { email, password });
      history.replaceState(null, "", "/");
      await props.onDone();
    });
  };

  if (!token) {
    return (
      <main class="card narrow">
        <h1>Set up Rampart</h1>
        <Notice kind="info">Open the one-time setup link that <code>rampart serve</code> printed at its first start.</Notice>
      </main>
    );
  }
  return (
    <main class="card narrow">
      <h1>Create the owner account</h1>
      <form onSubmit={submit}>
        <label>
          Email
          <input type="email" name="email" autocomplete="username" required value={email}
            onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        <label>
          Name
          <input name="display_name" autocomplete="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Password (12 characters or more)
          <input type="password" name="password" autocomplete="new-password" minLength={12} required value={password}
            onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <ErrorLine message={action.message} />
        <button type="submit" disabled={action.busy}>Create owner</button>
      </form>
    </main>
  );
}
