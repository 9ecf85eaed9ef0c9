import { raw } from "hono/html";
import type { FC } from "hono/jsx";

/**
 * The reference as plain HTML over the OpenAPI document: what /docs shows a browser without
 * JavaScript (inside `<noscript>`), and what a crawler or `curl` reads. Scalar renders the
 * interactive reference from the same document; this stays as its fallback.
 */

type Json = Record<string, unknown>;

const STYLE = `
body { margin: 0; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b2f; }
main { max-width: 960px; margin: 0 auto; padding: 24px; }
h1 { margin: 0 0 4px; } h2 { margin-top: 32px; border-bottom: 1px solid #d1d5db; padding-bottom: 4px; }
.op { border: 1px solid #d1d5db; border-radius: 10px; margin: 12px 0; padding: 12px 16px; }
.op h3 { margin: 0; font-size: 1rem; display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; }
.method { font: 700 0.8rem ui-monospace, monospace; padding: 2px 8px; border-radius: 6px; background: #e0e7ff; color: #312e81; text-transform: uppercase; }
.method.post { background: #dcfce7; color: #14532d; } .method.patch { background: #fef3c7; color: #78350f; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.85rem; }
pre { background: #f3f4f6; padding: 10px; border-radius: 8px; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
.muted { color: #4b5563; }
`;

function exampleOf(schema: Json | undefined, components: Json): unknown {
  if (!schema) return undefined;
  const ref = typeof schema.$ref === "string" ? schema.$ref.split("/").pop() : undefined;
  const resolved = ref ? (components[ref] as Json | undefined) : schema;
  return resolved?.example;
}

export const StaticReference: FC<{ document: Json }> = ({ document }) => {
  const info = document.info as { title: string; version: string; description?: string };
  const paths = document.paths as Record<string, Record<string, Json>>;
  const components = ((document.components as Json | undefined)?.schemas ?? {}) as Json;
  const byTag = new Map<string, { path: string; method: string; op: Json }[]>();
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = ((op.tags as string[] | undefined) ?? ["other"])[0] ?? "other";
      byTag.set(tag, [...(byTag.get(tag) ?? []), { path, method, op }]);
    }
  }
  return (
    <noscript>
      <style>{raw(STYLE)}</style>
      <main>
        <h1>{info.title}</h1>
        <p class="muted">
          {`Version ${info.version}. `}
          The machine-readable document is at <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). This is the plain
          reference; with JavaScript on, this page shows the interactive one.
        </p>
        {info.description ? <p>{info.description}</p> : null}
        {[...byTag].map(([tag, ops]) => (
          <section>
            <h2>{tag}</h2>
            {ops.map(({ path, method, op }) => {
              const body = ((op.requestBody as Json | undefined)?.content as Json | undefined)?.["application/json"] as
                | Json
                | undefined;
              const example = exampleOf(body?.schema as Json | undefined, components);
              const responses = (op.responses ?? {}) as Record<string, { description?: string }>;
              const params = (op.parameters ?? []) as {
                name: string;
                in: string;
                required?: boolean;
                description?: string;
              }[];
              const secured = Array.isArray(op.security) && op.security.length > 0;
              return (
                <article class="op" id={`${method}-${path}`}>
                  <h3>
                    <span class={`method ${method}`}>{method}</span>
                    <code>{path}</code>
                    <span class="muted">{String(op.summary ?? "")}</span>
                  </h3>
                  {op.description ? <p>{String(op.description)}</p> : null}
                  {secured ? (
                    <p class="muted">
                      {`Authorization: Bearer <${Object.keys((op.security as Json[])[0] ?? {})[0] === "WidgetToken" ? "widget token" : "API key"}>`}
                    </p>
                  ) : null}
                  {params.length > 0 ? (
                    <table>
                      <tbody>
                        {params.map((p) => (
                          <tr>
                            <td>
                              <code>{p.name}</code>
                            </td>
                            <td class="muted">{`${p.in}${p.required ? ", required" : ""}`}</td>
                            <td>{p.description ?? ""}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  ) : null}
                  {example !== undefined ? <pre>{JSON.stringify(example, null, 2)}</pre> : null}
                  <table>
                    <tbody>
                      {Object.entries(responses).map(([status, response]) => (
                        <tr>
                          <td>
                            <code>{status}</code>
                          </td>
                          <td>{response.description ?? ""}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </article>
              );
            })}
          </section>
        ))}
      </main>
    </noscript>
  );
};
