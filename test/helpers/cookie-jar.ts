// A browser's cookies for one origin, for the page tests that post forms over plain HTTP.
export class CookieJar {
  readonly cookies = new Map<string, string>()
  /** Every Set-Cookie header received, attributes included, oldest first. */
  readonly raw: string[] = []

  /** Takes the Set-Cookie headers of a response; `Max-Age=0` removes a cookie. */
  store(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      this.raw.push(c)
      const [pair] = c.split(';')
      const eq = pair!.indexOf('=')
      if (/Max-Age=0\b/i.test(c)) this.cookies.delete(pair!.slice(0, eq))
      else this.cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1))
    }
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  /** The pages' CSRF token, from its cookie. */
  csrf(): string {
    return decodeURIComponent(this.cookies.get('hearth-csrf') ?? '')
  }
}
