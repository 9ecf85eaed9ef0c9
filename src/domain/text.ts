/**
 * What text the service accepts from a request: well-formed Unicode (no lone
 * surrogates, which D1 would store as invalid UTF-8) without control
 * characters, which have no place in an id, a name, a code or a token.
 */

/** C0 (U+0000-U+001F, NUL included), DEL and C1 (U+0080-U+009F). */
function isControl(unit: number): boolean {
  return unit < 0x20 || (unit >= 0x7f && unit <= 0x9f);
}

/** Why a string cannot be taken as text, or undefined when it can. */
export function textProblem(value: string): string | undefined {
  if (!value.isWellFormed()) return "is not well-formed Unicode (it has a lone surrogate)";
  for (let i = 0; i < value.length; i++) {
    if (isControl(value.charCodeAt(i))) return "must not contain control characters";
  }
  return undefined;
}

export interface BadText {
  path: string[];
  problem: string;
}

/** The first string inside a parsed input (object keys included) that is not acceptable text. */
export function findBadText(value: unknown, path: string[] = []): BadText | undefined {
  if (typeof value === "string") {
    const problem = textProblem(value);
    return problem ? { path, problem } : undefined;
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = findBadText(item, [...path, String(index)]);
      if (found) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      const keyProblem = textProblem(key);
      if (keyProblem) return { path: [...path, key], problem: keyProblem };
      const found = findBadText(item, [...path, key]);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * Decodes one percent-encoded URL component strictly: undefined when its
 * bytes are not UTF-8 (such as `%ED%A0%80`, a lone surrogate, or `%FF`),
 * where the router would have kept the raw text.
 */
export function strictlyDecoded(component: string): string | undefined {
  try {
    return decodeURIComponent(component);
  } catch {
    return undefined;
  }
}
