import { useState } from "preact/hooks";
import { post, type LoginAnswer } from "../api";
import { ErrorLine, useAction } from "../ui";
import { passkeysSupported, usePasskey } from "../webauthn";

interface Ceremony { ceremony_id: string; options: Record<string, unknown> }

/** Password sign-in, then the second factor when the account has one. */
export function SignIn(props: { onSignedIn: () => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [challenge, setChallenge] = useState<string | null>(null);
  const [code, setCode] = useState("");
  const [useRecovery, setUseRecovery] = useState(false);
  const [methods, setMethods] = useState<string[]>([]);
  const action = useAction();

  const submitPassword = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const answer = await post<LoginAnswer>("/api/v1/auth/login", { email, password });
      setPassword("");
      if (answer.status === "signed_in") props.onSignedIn();
      else {
        setMethods(answer.methods);
        setChallenge(answer.challenge);
      }
    });
  };

  // Passwordless: the passkey alone (the email only finds the account's passkeys).
  const passkeySignIn = () =>
    action.run(async () => {
      if (!email) throw new Error("Enter your email first.");
      const ceremony = await post<Ceremony>("/api/v1/auth/passkey/options", { email });
      const credential = await usePasskey(ceremony.options);
      await post<LoginAnswer>("/api/v1/auth/passkey", { ceremony_id: ceremony.ceremony_id, credential });
      props.onSignedIn();
    });

  const passkeySecondFactor = () =>
    action.run(async () => {
      const ceremony = await post<Ceremony>("/api/v1/auth/login/second-factor/passkey-options", { challenge });
      const credential = await usePasskey(ceremony.options);
      await post<LoginAnswer>("/api/v1/auth/login/second-factor", {
        challenge, passkey: { ceremony_id: ceremony.ceremony_id, credential },
      });
      props.onSignedIn();
    });

  const submitCode = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const body = useRecovery ? { challenge, recovery_code: code.trim() } : { challenge, code: code.trim() };
      await post<LoginAnswer>("/api/v1/auth/login/second-factor", body);
      props.onSignedIn();
    });
  };

  return (
    <main class="card narrow">
      <h1>Sign in to Rampart</h1>
      {challenge === null ? (
        <form onSubmit={submitPassword}>
          <label>
            Email
            <input type="email" name="email" autocomplete="username" required value={email}
              onInput={(e) => setEmail(e.currentTarget.value)} />
          </label>
          <label>
            Password
            <input type="password" name="password" autocomplete="current-password" required value={password}
              onInput={(e) => setPassword(e.currentTarget.value)} />
          </label>
          <ErrorLine message={action.message} />
          <button type="submit" disabled={action.busy}>Sign in</button>
          {passkeysSupported() && (
            <button type="button" class="secondary" disabled={action.busy} onClick={() => void passkeySignIn()}>Sign in with a passkey</button>
          )}
        </form>
      ) : (
        <form onSubmit={submitCode}>
          {methods.includes("totp") || useRecovery ? (
            <>
              <p>{useRecovery ? "Enter one of your recovery codes." : "Enter the 6-digit code from your authenticator app."}</p>
              <label>
                {useRecovery ? "Recovery code" : "Code"}
                <input name="code" autocomplete="one-time-code" inputMode={useRecovery ? "text" : "numeric"} required
                  value={code} onInput={(e) => setCode(e.currentTarget.value)} />
              </label>
              <button type="submit" disabled={action.busy}>Verify</button>
            </>
          ) : (
            <p>Confirm it is you with your passkey.</p>
          )}
          {methods.includes("passkey") && passkeysSupported() && (
            <button type="button" class="secondary" disabled={action.busy} onClick={() => void passkeySecondFactor()}>Use a passkey</button>
          )}
          {methods.includes("recovery_code") && (
            <button type="button" class="link" onClick={() => { setUseRecovery(!useRecovery); setCode(""); }}>
              {useRecovery ? "Back" : "Use a recovery code"}
            </button>
          )}
          <ErrorLine message={action.message} />
        </form>
      )}
    </main>
  );
}
