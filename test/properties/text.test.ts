import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { API_KEY, call, createCode, type Json, widgetCall, widgetToken } from "../helpers";
import { d1Snapshot } from "./snapshot";

/**
 * Every string a request can carry, found in the served OpenAPI document
 * (body properties, query and path parameters), refused when it is not text:
 * a lone surrogate, a control character, or longer than its declared maximum.
 * Each refusal names the field and leaves D1 as it was.
 */

interface JsonSchema {
  type?: string | string[];
  maxLength?: number;
  enum?: string[];
  example?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  $ref?: string;
}

interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  schema: JsonSchema;
}

interface Operation {
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
}

interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, JsonSchema> };
}

/** One string a request can carry. */
interface StringField {
  method: string;
  path: string;
  operation: Operation;
  in: "path" | "query" | "body";
  name: string;
  schema: JsonSchema;
}

/** A bad value as it travels: raw in a JSON body, percent-encoded in a URL. */
interface BadValue {
  label: string;
  body: (schema: JsonSchema) => string;
  url: (schema: JsonSchema) => string;
}

const isString = (schema: JsonSchema) =>
  schema.type === "string" || (Array.isArray(schema.type) && schema.type.includes("string"));

/** The longest value the schema admits, plus one: every request string is bounded. */
const tooLong = (schema: JsonSchema) => {
  const max = schema.maxLength ?? Math.max(...(schema.enum ?? []).map((value) => value.length));
  return "a".repeat(max + 1);
};

const BAD_VALUES: BadValue[] = [
  // JSON.stringify writes a lone surrogate as the escape `\ud800`, which JSON.parse turns back into one.
  { label: "a lone surrogate", body: () => "ab\ud800cd", url: () => "ab%ED%A0%80cd" },
  { label: "a NUL", body: () => "ab\u0000cd", url: () => "ab%00cd" },
  { label: "a C1 control character", body: () => "ab\u009bcd", url: () => "ab%C2%9Bcd" },
  { label: "an over-long value", body: tooLong, url: tooLong },
];

// The document as served: what a client reads is what is tested.
const doc = (await (await call("/openapi.json")).json()) as OpenApiDocument;
let widget: string;

const resolve = (schema: JsonSchema): JsonSchema =>
  schema.$ref ? (doc.components.schemas[schema.$ref.replace("#/components/schemas/", "")] ?? {}) : schema;

const bodySchema = (operation: Operation) => {
  const schema = operation.requestBody?.content["application/json"]?.schema;
  return schema ? resolve(schema) : undefined;
};

/** A valid value for a parameter, from the document's own examples. */
function example(parameter: Parameter): string {
  const value = parameter.schema.example;
  if (typeof value !== "string") throw new Error(`${parameter.in} parameter ${parameter.name} has no example`);
  return value;
}

function stringFields(): StringField[] {
  const fields: StringField[] = [];
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      for (const parameter of operation.parameters ?? []) {
        if ((parameter.in === "path" || parameter.in === "query") && isString(parameter.schema)) {
          fields.push({ method, path, operation, in: parameter.in, name: parameter.name, schema: parameter.schema });
        }
      }
      for (const [name, schema] of Object.entries(bodySchema(operation)?.properties ?? {})) {
        if (schema.properties) throw new Error(`${method} ${path}: nested body objects are not walked yet (${name})`);
        if (isString(schema)) fields.push({ method, path, operation, in: "body", name, schema });
      }
    }
  }
  return fields;
}

/** A request to the operation with valid values everywhere but `override`. */
function request(
  method: string,
  path: string,
  operation: Operation,
  override?: { in: "path" | "query" | "body"; name: string; url: string; body: string },
  extraQuery = "",
) {
  let url = path;
  const query: string[] = [];
  for (const parameter of operation.parameters ?? []) {
    const mine = override?.in === parameter.in && override.name === parameter.name;
    if (parameter.in === "path") {
      url = url.replace(`{${parameter.name}}`, mine ? override.url : encodeURIComponent(example(parameter)));
    } else if (parameter.in === "query" && (mine || parameter.required)) {
      query.push(`${parameter.name}=${mine ? override.url : encodeURIComponent(example(parameter))}`);
    }
  }
  if (extraQuery) query.push(extraQuery);
  const schema = bodySchema(operation);
  const body = schema
    ? JSON.stringify({
        ...(schema.example as Record<string, unknown>),
        ...(override?.in === "body" ? { [override.name]: override.body } : {}),
      })
    : undefined;
  const scheme = Object.keys(operation.security?.[0] ?? {})[0];
  const headers: Record<string, string> = {
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36",
    ...(scheme === "ApiKey" ? { authorization: `Bearer ${API_KEY}` } : {}),
    ...(scheme === "WidgetToken" ? { authorization: `Bearer ${widget}` } : {}),
    ...(body === undefined ? {} : { "content-type": "application/json" }),
  };
  return call(`${url}${query.length > 0 ? `?${query.join("&")}` : ""}`, {
    method: method.toUpperCase(),
    headers,
    body,
  });
}

beforeAll(async () => {
  widget = await widgetToken("text-widget-user");
});

describe("every request string field in the OpenAPI document", () => {
  it("is found in bodies, query and path parameters, on public, API-key and widget-token routes", () => {
    const fields = stringFields();
    expect(new Set(fields.map((field) => field.in))).toEqual(new Set(["path", "query", "body"]));
    const routes = new Set(fields.map((field) => `${field.method} ${field.path}`));
    for (const route of ["get /r/{code}", "get /widgets/v1/embed", "post /api/codes", "post /api/widget-tokens"]) {
      expect(routes).toContain(route);
    }
    expect(fields.length).toBeGreaterThanOrEqual(25);
  });

  it("declares a maximum length (or a closed set of values)", () => {
    const unbounded = stringFields()
      .filter((field) => field.schema.maxLength === undefined && field.schema.enum === undefined)
      .map((field) => `${field.method} ${field.path} ${field.in} ${field.name}`);
    expect(unbounded).toEqual([]);
  });

  for (const field of stringFields()) {
    const route = `${field.method.toUpperCase()} ${field.path}`;
    const outcome = field.path === "/r/{code}" ? "redirecting to signup uncounted" : "naming it";
    it(`${route}: refuses a lone surrogate, a control character or an over-long ${field.in} ${field.name}, ${outcome} and storing nothing`, async () => {
      for (const bad of BAD_VALUES) {
        const what = `${route} ${field.in} ${field.name} with ${bad.label}`;
        const before = await d1Snapshot();
        const res = await request(field.method, field.path, field.operation, {
          in: field.in,
          name: field.name,
          url: bad.url(field.schema),
          body: bad.body(field.schema),
        });
        if (field.path === "/r/{code}") {
          // A share link is followed by people: a garbled one still gets them to signup, uncounted.
          expect(res.status, what).toBe(302);
          expect(res.headers.get("location"), what).toBe(env.SIGNUP_URL);
          expect(res.headers.get("set-cookie"), what).toBeNull();
        } else {
          const body = (await res.json()) as Json;
          expect(res.status, `${what}: ${JSON.stringify(body)}`).toBe(400);
          expect(body.error?.code, what).toBe("invalid_request");
          expect(body.error?.field, what).toBe(field.name);
          expect(body.error?.message, what).toMatch(new RegExp(`^${field.name}: `));
        }
        expect(await d1Snapshot(), what).toEqual(before);
      }
    });
  }

  it("refuses ill-formed text in the name of a query parameter too", async () => {
    const res = await call("/api/users/user_123/rewards?%ED%A0%80=1", {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).error).toMatchObject({ code: "invalid_request", field: "%ED%A0%80" });
  });

  it("refuses ill-formed text in the name of a body field", async () => {
    const res = await call("/api/codes", {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: '{"userId":"text-key-owner","\\ud800":1}',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).error).toMatchObject({ code: "invalid_request", field: "\ud800" });
  });
});

describe("unknown query parameters and body fields", () => {
  it("are refused with 400 naming them on every route called with a credential", async () => {
    const authenticated = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => (operation.security ?? []).length > 0)
        .map(([method, operation]) => ({ method, path, operation })),
    );
    expect(authenticated.length).toBeGreaterThanOrEqual(15);
    for (const { method, path, operation } of authenticated) {
      const before = await d1Snapshot();
      const res = await request(method, path, operation, undefined, "_=1764000000");
      const body = (await res.json()) as Json;
      expect(res.status, `${method} ${path}: ${JSON.stringify(body)}`).toBe(400);
      expect(body.error, `${method} ${path}`).toMatchObject({ code: "invalid_request", field: "_" });
      expect(await d1Snapshot(), `${method} ${path}`).toEqual(before);
    }
  });

  it("are refused with 400 naming them in every body of a route called with a credential", async () => {
    const withBody = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => (operation.security ?? []).length > 0 && bodySchema(operation))
        .map(([method, operation]) => ({ method, path, operation })),
    );
    expect(withBody.length).toBeGreaterThanOrEqual(4);
    for (const { method, path, operation } of withBody) {
      const before = await d1Snapshot();
      const res = await request(method, path, operation, { in: "body", name: "refererEmail", url: "", body: "x@y.z" });
      const body = (await res.json()) as Json;
      expect(res.status, `${method} ${path}: ${JSON.stringify(body)}`).toBe(400);
      expect(body.error, `${method} ${path}`).toMatchObject({ code: "invalid_request", field: "refererEmail" });
      expect(await d1Snapshot(), `${method} ${path}`).toEqual(before);
    }
  });

  it("are ignored by what browsers, crawlers and monitors load: share links, the card, health and docs", async () => {
    const code = await createCode("text-lenient-owner", "len");
    const share = await call(`/r/${code}?utm_source=newsletter&fbclid=abc`, {
      headers: { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36" },
    });
    expect(share.status).toBe(302);
    expect(share.headers.get("location")).toContain(`ref=${code}`);
    const card = await call(`/widgets/v1/embed?token=${await widgetToken("text-lenient-owner")}&_=1764000000`);
    expect(card.status).toBe(200);
    for (const path of ["/health?_=1", "/openapi.json?_=1", "/docs?_=1"])
      expect((await call(path)).status, path).toBe(200);
  });
});

describe("widget tokens", () => {
  it("cannot be minted for an id of control characters, which would make a token no route accepts", async () => {
    const before = await d1Snapshot();
    const res = await call("/api/widget-tokens", {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ userId: "\u0001".repeat(128) }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).error).toMatchObject({ code: "invalid_request", field: "userId" });
    expect(await d1Snapshot()).toEqual(before);
  });

  it("minted for the longest id the mint accepts, in the widest characters, are accepted by the widget routes", async () => {
    // 128 characters of three UTF-8 bytes each, quotes and backslashes: the largest payload an id can make.
    for (const userId of ["\uffee".repeat(128), '"\\'.repeat(64), "😀".repeat(64)]) {
      await createCode(userId, "wide");
      const token = await widgetToken(userId);
      expect(token.length).toBeLessThanOrEqual(1024);
      const me = await widgetCall("/widgets/v1/me", token);
      expect(me.status).toBe(200);
      expect(((await me.json()) as { userId: string }).userId).toBe(userId);
      expect((await widgetCall("/widgets/v1/leaderboard", token)).status).toBe(200);
      expect((await call(`/widgets/v1/embed?token=${token}`)).status).toBe(200);
    }
  });
});
