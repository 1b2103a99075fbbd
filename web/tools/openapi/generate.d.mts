export const SPEC_PATH: string;
export const OUTPUT_PATH: string;
/** The TypeScript of an OpenAPI document (its JSON text). */
export function renderApiTypes(specText: string): Promise<string>;
