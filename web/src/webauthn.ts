// The browser side of passkey ceremonies: the server's options (webauthn-rs JSON, binary
// values in base64url) to what navigator.credentials expects, and the credential back to
// the JSON the server reads. Only encoding happens here; every check is the server's.

type Json = Record<string, unknown>;

function fromBase64Url(text: string): ArrayBuffer {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return bytes.buffer;
}

function toBase64Url(buffer: ArrayBuffer | null | undefined): string | null {
  if (!buffer) return null;
  let text = "";
  for (const b of new Uint8Array(buffer)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const withIds = (list: unknown) =>
  Array.isArray(list) ? list.map((c: Json) => ({ ...c, id: fromBase64Url(String(c.id)) })) : undefined;

export const passkeysSupported = () => typeof window.PublicKeyCredential === "function";

/** Creates a passkey from `{publicKey: …}` creation options; the credential as JSON. */
export async function createPasskey(options: Json): Promise<Json> {
  const pk = options.publicKey as Json;
  const user = pk.user as Json;
  const publicKey = {
    ...pk,
    challenge: fromBase64Url(String(pk.challenge)),
    user: { ...user, id: fromBase64Url(String(user.id)) },
    excludeCredentials: withIds(pk.excludeCredentials),
  } as unknown as PublicKeyCredentialCreationOptions;
  const credential = (await navigator.credentials.create({ publicKey })) as PublicKeyCredential | null;
  if (!credential) throw new Error("No passkey was created.");
  const response = credential.response as AuthenticatorAttestationResponse;
  return {
    id: credential.id,
    rawId: toBase64Url(credential.rawId),
    type: credential.type,
    response: {
      attestationObject: toBase64Url(response.attestationObject),
      clientDataJSON: toBase64Url(response.clientDataJSON),
      transports: typeof response.getTransports === "function" ? response.getTransports() : undefined,
    },
    extensions: credential.getClientExtensionResults(),
  };
}

/** Signs in with a passkey from `{publicKey: …}` request options; the assertion as JSON. */
export async function usePasskey(options: Json): Promise<Json> {
  const pk = options.publicKey as Json;
  const publicKey = {
    ...pk,
    challenge: fromBase64Url(String(pk.challenge)),
    allowCredentials: withIds(pk.allowCredentials),
  } as unknown as PublicKeyCredentialRequestOptions;
  const credential = (await navigator.credentials.get({ publicKey })) as PublicKeyCredential | null;
  if (!credential) throw new Error("No passkey was used.");
  const response = credential.response as AuthenticatorAssertionResponse;
  return {
    id: credential.id,
    rawId: toBase64Url(credential.rawId),
    type: credential.type,
    response: {
      authenticatorData: toBase64Url(response.authenticatorData),
      clientDataJSON: toBase64Url(response.clientDataJSON),
      signature: toBase64Url(response.signature),
      userHandle: toBase64Url(response.userHandle),
    },
    extensions: credential.getClientExtensionResults(),
  };
}
