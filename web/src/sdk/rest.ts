import type { paths } from './api.gen';
import type { Http, RequestOptions } from './http';

/**
 * REST calls typed by the generated OpenAPI `paths`: the path template, its parameters,
 * the query, the JSON body and the answer all come from docs/openapi.json, so a call the
 * server no longer accepts fails to compile. Requests go through `Http` (token refresh,
 * error mapping, quiet retries).
 */

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;

/** The path templates that answer `M`. */
export type PathsOf<M extends Method> = { [P in keyof paths]: [Operation<P, M>] extends [never] ? never : P }[keyof paths];

type PathParams<O> = O extends { parameters: { path: infer X extends Record<string, string> } } ? X : undefined;
type QueryOf<O> = O extends { parameters: { query: infer Q extends object } } ? Q : undefined;
type BodyOf<O> = O extends { requestBody: { content: { 'application/json': infer B } } }
  ? B
  : O extends { requestBody?: { content: { 'application/json': infer B } } }
    ? B | undefined
    : undefined;
type Json<R> = R extends { content: { 'application/json': infer B } } ? B : void;
/** The body of an operation's success answer (void for 204). */
export type ResultOf<O> = O extends { responses: infer R } ? (200 extends keyof R ? Json<R[200]> : 201 extends keyof R ? Json<R[201]> : void) : never;

type Field<K extends string, T> = [T] extends [undefined] ? { [_ in K]?: undefined } : undefined extends T ? { [_ in K]?: T } : { [_ in K]: T };
export type ArgsOf<O> = Field<'path', PathParams<O>> & Field<'query', QueryOf<O>> & Field<'body', BodyOf<O>> & Omit<RequestOptions, 'body'>;
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- `{}` is exactly "no required key"
type Rest_<A> = {} extends A ? [args?: A] : [args: A];

export type Answer<P extends keyof paths, M extends Method> = ResultOf<Operation<P, M>>;

/** A path template with its `{name}` parameters filled in (encoded) and the query appended. */
export function urlOf(template: string, params?: Record<string, string>, query?: object): string {
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params?.[name];
    if (value === undefined) throw new Error(`${template}: no value for {${name}}`);
    return encodeURIComponent(value);
  });
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null) search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}

export class Rest {
  constructor(readonly http: Http) {}

  get<P extends PathsOf<'get'>>(path: P, ...args: Rest_<ArgsOf<Operation<P, 'get'>>>): Promise<Answer<P, 'get'>> {
    return this.call('GET', path, args[0]);
  }

  post<P extends PathsOf<'post'>>(path: P, ...args: Rest_<ArgsOf<Operation<P, 'post'>>>): Promise<Answer<P, 'post'>> {
    return this.call('POST', path, args[0]);
  }

  put<P extends PathsOf<'put'>>(path: P, ...args: Rest_<ArgsOf<Operation<P, 'put'>>>): Promise<Answer<P, 'put'>> {
    return this.call('PUT', path, args[0]);
  }

  patch<P extends PathsOf<'patch'>>(path: P, ...args: Rest_<ArgsOf<Operation<P, 'patch'>>>): Promise<Answer<P, 'patch'>> {
    return this.call('PATCH', path, args[0]);
  }

  delete<P extends PathsOf<'delete'>>(path: P, ...args: Rest_<ArgsOf<Operation<P, 'delete'>>>): Promise<Answer<P, 'delete'>> {
    return this.call('DELETE', path, args[0]);
  }

  private call<T>(method: string, template: string, args?: { path?: object; query?: object; body?: unknown } & Omit<RequestOptions, 'body'>): Promise<T> {
    const { path, query, ...options } = args ?? {};
    return this.http.request<T>(method, urlOf(template, path as Record<string, string> | undefined, query), options);
  }
}
