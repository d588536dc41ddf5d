import { createHash } from "node:crypto";
import { defineConfig, type Plugin } from "vite";

// Subresource Integrity for every script and stylesheet the page loads: the server's CSP
// allows only 'self', and SRI pins each file to the bytes this build produced.
function subresourceIntegrity(): Plugin {
  return {
    name: "rampart-sri",
    apply: "build",
    enforce: "post",
    transformIndexHtml: {
      order: "post",
      handler(html, ctx) {
        const bundle = ctx.bundle;
        if (!bundle) return html;
        const digest = (file: string) => {
          const item = bundle[file];
          if (!item) throw new Error(`SRI: ${file} is not in the bundle`);
          const bytes = item.type === "chunk" ? item.code : item.source;
          return "sha384-" + createHash("sha384").update(bytes).digest("base64");
        };
        return html.replace(
          /<(script|link)\b([^>]*?)\b(src|href)="\/([^"]+\.(?:js|css))"([^>]*)>/g,
          (_all, tag, before, attr, file, after) =>
            `<${tag}${before}${attr}="/${file}" integrity="${digest(file)}"${after}>`,
        );
      },
    },
  };
}

export default defineConfig({
  plugins: [subresourceIntegrity()],
  build: {
    // The polyfill would be an inline script, which the CSP forbids; every browser we
    // support has modulepreload.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    target: "es2022",
    reportCompressedSize: true,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
});
