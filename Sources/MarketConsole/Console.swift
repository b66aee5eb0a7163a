import Foundation
import HTTPTypes
public import Hummingbird
import Logging
import Market
public import MarketStore
public import Postgres

/// What a deployment decides about the console.
public struct ConsoleConfiguration: Sendable {
    /// Cookies carry `Secure` (sent over HTTPS only): true everywhere but development on plain HTTP.
    public var secureCookies: Bool
    /// Where the live pages hear of changes (`pdx_matches`, `pdx_catalogue`, `pdx_jobs`); nil: no live updates.
    public var listener: PostgresListener?

    public init(secureCookies: Bool = true, listener: PostgresListener? = nil) {
        self.secureCookies = secureCookies
        self.listener = listener
    }
}

/// The console (`/console`): server-rendered pages over the market store for administrators, operators,
/// agencies and demanders, signed in with their keys. Nothing it serves loads anything from elsewhere: its
/// stylesheet and its one small script are in the binary, its plots are SVG drawn here, and its
/// Content-Security-Policy forbids the browser any other source.
public struct Console: Sendable {
    let store: MarketStore
    let configuration: ConsoleConfiguration

    /// Who may open a page.
    enum Audience: Sendable {
        case administrators
        case parties(Set<PartyKind>)
        case signedIn
    }

    /// Adds the console's routes to a router (its other routes and middleware are left as they are).
    public static func addRoutes<Context: RequestContext>(to router: Router<Context>, store: MarketStore, configuration: ConsoleConfiguration) {
        let console = Console(store: store, configuration: configuration)
        router.get("console/assets/console.css") { _, _ in Self.asset(ConsoleAssets.css, type: "text/css; charset=utf-8") }
        router.get("console/assets/console.js") { _, _ in Self.asset(ConsoleAssets.js, type: "text/javascript; charset=utf-8") }
        router.get("console/assets/icon.svg") { _, _ in Self.asset(ConsoleAssets.icon, type: "image/svg+xml") }
        router.get("console/sign-in") { request, context in await console.signInPage(request, context: context) }
        router.post("console/sign-in") { request, context in await console.signIn(request, context: context) }
        router.post("console/sign-out") { request, context in
            await console.form(request, context, for: .signedIn) { page, _ in
                if let viewer = page.viewer { try await store.endConsoleSession(viewer) }
                return Self.redirect("/console/sign-in", cookies: [Cookies.set("pdx_session", "", maxAge: 0, secure: configuration.secureCookies)])
            }
        }
        router.get("console") { request, context in
            await console.page(request, context, for: .signedIn) { page in try await console.home(page) }
        }
        router.get("console/events") { request, context in await console.events(request, context: context) }
        router.get("console/gaps") { request, context in
            await console.page(request, context, for: .administrators) { page in try await console.gaps(page) }
        }
        router.get("console/matches") { request, context in
            await console.page(request, context, for: .administrators) { page in try await console.matches(page) }
        }
        router.get("console/matches/:id") { request, context in
            let id = context.parameters.get("id")
            return await console.page(request, context, for: .administrators) { page in try await console.match(page, id: try Self.uuid(id, "match")) }
        }
        router.get("console/queue") { request, context in
            await console.page(request, context, for: .administrators) { page in try await console.queue(page) }
        }
        router.post("console/queue/:id/:action") { request, context in
            let id = context.parameters.get("id"), action = context.parameters.get("action")
            return await console.form(request, context, for: .administrators) { page, fields in
                try await console.changeJob(page, fields, id: id, action: action)
            }
        }
        router.get("console/pricing") { request, context in
            await console.page(request, context, for: .administrators) { page in try await console.pricing(page) }
        }
        router.post("console/pricing") { request, context in
            await console.form(request, context, for: .administrators) { page, fields in try await console.addRule(page, fields) }
        }
        router.get("console/pricing/:id") { request, context in
            let id = context.parameters.get("id")
            return await console.page(request, context, for: .administrators) { page in try await console.rule(page, id: try Self.ruleID(id)) }
        }
        router.post("console/pricing/:id") { request, context in
            let id = context.parameters.get("id")
            return await console.form(request, context, for: .administrators) { page, fields in try await console.setRule(page, fields, id: try Self.ruleID(id)) }
        }
        router.post("console/pricing/:id/retire") { request, context in
            let id = context.parameters.get("id")
            return await console.form(request, context, for: .administrators) { page, fields in
                try await console.retireRule(page, fields, id: try Self.ruleID(id))
            }
        }
        router.get("console/revenue") { request, context in
            await console.page(request, context, for: .administrators) { page in try await console.revenue(page) }
        }
        router.get("console/audit") { request, context in
            await console.page(request, context, for: .administrators) { page in try await console.audit(page) }
        }
        // Any other console path: a page saying so (not the API's JSON problem).
        router.get("console/**") { request, context in
            await console.page(request, context, for: .signedIn, status: .notFound) { page in
                Content(title: page.t("Not found", "未找到"), body: HTML("""
                    <p class="error">\(page.t("There is no such page in the console.", "控制台中没有此页面。"))</p>
                    <p><a href="/console">\(page.t("To your console", "返回控制台"))</a></p>
                    """))
            }
        }
        router.get("console/products/:id") { request, context in
            let id = context.parameters.get("id")
            return await console.page(request, context, for: .parties([.operator])) { page in try await console.product(page, id: try Self.uuid(id, "product")) }
        }
    }

    // MARK: Answering

    /// A page: the session checked (none: to the sign-in page; the wrong role: 403), then `render`'s content
    /// inside the layout. Bad input answers 400 and a missing thing 404, each with a page saying what; any
    /// other failure 500 without details (they are in the log).
    func page<Context: RequestContext>(_ request: Request, _ context: Context, for audience: Audience,
                                       status: HTTPResponse.Status = .ok, _ render: (ConsolePage) async throws -> Content) async -> Response {
        var page = ConsolePage(viewer: nil, language: ConsoleLanguage.of(request), path: request.uri.path, query: Self.query(request))
        do {
            guard let viewer = try await session(request) else {
                let next = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
                return Self.redirect("/console/sign-in?next=" + (next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
            }
            page.viewer = viewer
            guard Self.allows(audience, viewer) else { return respond(page, status: .forbidden, Self.refusal(page)) }
            return respond(page, status: status, try await render(page))
        } catch {
            return failure(error, page: page, context: context)
        }
    }

    /// A form's POST: the session and role checked as for a page, the body read (at most 64 KiB) and its
    /// `csrf` field compared with the session's token (refused with 403 when it differs or is missing).
    func form<Context: RequestContext>(_ request: Request, _ context: Context, for audience: Audience,
                                       _ act: (ConsolePage, FormFields) async throws -> Response) async -> Response {
        var page = ConsolePage(viewer: nil, language: ConsoleLanguage.of(request), path: request.uri.path, query: Self.query(request))
        do {
            guard let viewer = try await session(request) else { return respond(page, status: .forbidden, Self.expired(page)) }
            page.viewer = viewer
            guard Self.allows(audience, viewer) else { return respond(page, status: .forbidden, Self.refusal(page)) }
            let fields = FormFields(String(buffer: try await request.body.collect(upTo: 64 << 10)))
            if let name = fields.values.first(where: { $0.key.utf8.contains(0) || $0.value.contains { $0.utf8.contains(0) } })?.key {
                throw MarketInputError.nulCharacter(name.replacingOccurrences(of: "\0", with: ""))
            }
            guard let sent = fields["csrf"], Self.same(sent, viewer.csrfToken) else {
                return respond(page, status: .forbidden, Content(title: page.t("Refused", "已拒绝"), body: HTML("""
                    <p class="error">\(page.t("This form was not sent from a page of this session (its CSRF token is missing or wrong). Open the page again and send it from there.",
                                             "此表单不是从本会话的页面提交的（CSRF 令牌缺失或不符）。请重新打开页面后再提交。"))</p>
                    """)))
            }
            return try await act(page, fields)
        } catch {
            return failure(error, page: page, context: context)
        }
    }

    /// The signed-in session of the request's cookie, if any.
    func session(_ request: Request) async throws -> ConsoleViewer? {
        guard let token = Cookies.value("pdx_session", in: request) else { return nil }
        return try await store.consoleSession(token: token)
    }

    static func allows(_ audience: Audience, _ viewer: ConsoleViewer) -> Bool {
        switch (audience, viewer.role) {
        case (.signedIn, _), (.administrators, .administrator): true
        case (.parties(let kinds), .party(let party)): kinds.contains(party.kind)
        default: false
        }
    }

    func failure<Context: RequestContext>(_ error: any Error, page: ConsolePage, context: Context) -> Response {
        switch error {
        case let error as MarketInputError:
            return respond(page, status: .badRequest, Content(title: page.t("Not accepted", "未被接受"), body: HTML("""
                <p class="error">\(page.t("Not accepted", "未被接受")): <strong>\(error.field)</strong> \(error.rule)</p>
                <p><a href="\(page.formPage)" class="back">\(page.t("Back", "返回"))</a></p>
                """)))
        case let error as MarketNotFound:
            return respond(page, status: .notFound, Content(title: page.t("Not found", "未找到"), body: HTML("<p class=\"error\">\(error)</p>")))
        case let error as TransitionRefused:
            return respond(page, status: .conflict, Content(title: page.t("Refused", "已拒绝"), body: HTML("<p class=\"error\">\(error)</p>")))
        case let error as PolicyViolation:
            return respond(page, status: .conflict, Content(title: page.t("Refused", "已拒绝"), body: HTML("<p class=\"error\">\(error)</p>")))
        default:
            context.logger.error("console page failed", metadata: ["error": "\(error)", "path": "\(page.path)"])
            return respond(page, status: .internalServerError, Content(title: page.t("Failed", "出错"), body: HTML("""
                <p class="error">\(page.t("The server failed; the log has the request id", "服务器出错；日志中有请求编号")) \(context.id).</p>
                """)))
        }
    }

    /// A page's title and content (the layout puts them in place).
    struct Content: Sendable {
        var title: String
        var body: HTML
        /// Live pages refresh themselves on these topics' events (`/console/events?topic=`).
        var live: String?

        init(title: String, body: HTML, live: String? = nil) {
            self.title = title
            self.body = body
            self.live = live
        }
    }

    func respond(_ page: ConsolePage, status: HTTPResponse.Status, _ content: Content, cookies: [String] = []) -> Response {
        var headers = Self.securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        if page.query["lang"] != nil {
            headers.append(HTTPField(name: .setCookie, value: Cookies.set("pdx_lang", page.language.rawValue, maxAge: 365 * 86_400,
                                                                          secure: configuration.secureCookies, httpOnly: false)))
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: Layout.render(page, content).text)))
    }

    static func redirect(_ location: String, cookies: [String] = []) -> Response {
        var headers = securityHeaders
        headers[.location] = location
        headers[.cacheControl] = "no-store"
        for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        return Response(status: .seeOther, headers: headers)
    }

    /// Nothing from anywhere but this server: no CDN, no font, no frame, no inline script or style.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .xContentTypeOptions: "nosniff",
    ]

    static func asset(_ text: String, type: String) -> Response {
        var headers = securityHeaders
        headers[.contentType] = type
        headers[.cacheControl] = "public, max-age=3600"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func query(_ request: Request) -> [String: String] {
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters {
            let value = String(value).trimmingCharacters(in: .whitespaces)
            if !value.isEmpty { query[String(name)] = value }
        }
        return query
    }

    static func uuid(_ text: String?, _ field: String) throws(MarketInputError) -> UUID {
        guard let text, let id = UUID(uuidString: text) else { throw MarketInputError(field: field, rule: "must be a UUID") }
        return id
    }

    static func ruleID(_ text: String?) throws(MarketInputError) -> Int64 {
        guard let text, let id = Int64(text), id > 0 else { throw MarketInputError(field: "rule", rule: "must be a pricing rule's number") }
        return id
    }

    /// Compares two tokens in time that does not depend on where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let a = Array(a.utf8), b = Array(b.utf8)
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func refusal(_ page: ConsolePage) -> Content {
        Content(title: page.t("Not for you", "无权访问"), body: HTML("""
            <p class="error">\(page.t("This page is not open to the key you signed in with.", "您登录所用的密钥无权打开此页面。"))</p>
            <p><a href="/console">\(page.t("To your console", "返回控制台"))</a></p>
            """))
    }

    static func expired(_ page: ConsolePage) -> Content {
        Content(title: page.t("Signed out", "已退出"), body: HTML("""
            <p class="error">\(page.t("Your session ended; nothing was changed. Sign in again.", "您的会话已结束，未做任何更改。请重新登录。"))</p>
            <p><a href="/console/sign-in">\(page.t("Sign in", "登录"))</a></p>
            """))
    }
}
