import Foundation
import Hummingbird
import Logging
import Market
import MarketStore

extension Console {
    /// The sign-in form. A pre-session cookie and the same value in the form guard the sign-in itself
    /// against cross-site posting (login CSRF).
    func signInPage<Context: RequestContext>(_ request: Request, context: Context, error: String? = nil, status: HTTPResponse.Status = .ok) async -> Response {
        let page = ConsolePage(viewer: nil, language: ConsoleLanguage.of(request), path: request.uri.path, query: Self.query(request))
        let guardToken = Self.randomToken()
        let next = Self.safeNext(page.query["next"])
        let body = HTML("""
            <div class="sign-in">
            <p>\(page.t("Sign in with your key: an administrator's key (pdxadm_…) or your party's API key (pdx_…).",
                        "请用密钥登录：管理员密钥（pdxadm_…）或您所属主体的 API 密钥（pdx_…）。"))</p>
            \(error.map { HTML("<p class=\"error\" role=\"alert\">\($0)</p>") } ?? .empty)
            <form id="sign-in" method="post" action="/console/sign-in">
            <input type="hidden" name="guard" value="\(guardToken)">
            <input type="hidden" name="next" value="\(next)">
            <label for="key">\(page.t("Key", "密钥"))</label>
            <input id="key" name="key" type="password" autocomplete="off" required autofocus spellcheck="false">
            <button type="submit">\(page.t("Sign in", "登录"))</button>
            </form>
            <p class="muted">\(page.t("The session lasts 12 hours, and ends when the key is revoked.", "会话有效期 12 小时，密钥被吊销时随即结束。"))</p>
            </div>
            """)
        return respond(page, status: status, Content(title: page.t("Sign in to the pdx console", "登录 pdx 控制台"), body: body),
                       cookies: [Cookies.set("pdx_sign_in", guardToken, maxAge: 3_600, secure: configuration.secureCookies)])
    }

    func signIn<Context: RequestContext>(_ request: Request, context: Context) async -> Response {
        let language = ConsoleLanguage.of(request)
        let page = ConsolePage(viewer: nil, language: language, path: request.uri.path, query: [:])
        do {
            let fields = FormFields(String(buffer: try await request.body.collect(upTo: 16 << 10)))
            guard let sent = fields["guard"], let kept = Cookies.value("pdx_sign_in", in: request), Self.same(sent, kept) else {
                return await signInPage(request, context: context, error: page.t("The form had expired or came from another site: sign in again from this page.",
                                                                                 "表单已过期或来自其他网站：请在本页重新登录。"), status: .forbidden)
            }
            guard let key = fields["key"], key.count <= 200 else {
                return await signInPage(request, context: context, error: page.t("Type your key.", "请输入密钥。"), status: .badRequest)
            }
            switch try await store.openConsoleSession(key: key) {
            case .success(let opened):
                return Self.redirect(Self.safeNext(fields["next"]), cookies: [
                    Cookies.set("pdx_session", opened.token, maxAge: Int(MarketStore.consoleSessionLifetime), secure: configuration.secureCookies),
                    Cookies.set("pdx_sign_in", "", maxAge: 0, secure: configuration.secureCookies),
                ])
            case .failure(let refusal):
                let reason = switch refusal {
                case .invalid: page.t("This key is not known, or was revoked.", "密钥无效或已被吊销。")
                case .expired: page.t("This key has expired.", "密钥已过期。")
                case .partySuspended: page.t("Your party is suspended.", "您所属的主体已被暂停。")
                case .partyClosed: page.t("Your party is closed.", "您所属的主体已关闭。")
                }
                context.logger.info("console sign-in refused", metadata: ["refusal": "\(refusal.rawValue)"])
                return await signInPage(request, context: context, error: reason, status: .unauthorized)
            }
        } catch {
            return failure(error, page: page, context: context)
        }
    }

    /// Where to go after signing in: a console path of this server, never another site.
    public static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/console"), !next.hasPrefix("/console/sign-"), !next.contains("//"), !next.contains(".."), !next.contains("\\") else { return "/console" }
        return next
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }
}
