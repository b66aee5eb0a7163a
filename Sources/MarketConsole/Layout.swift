import Foundation
import Market
import MarketStore

/// The frame every console page shares: the header, the navigation for the reader's role, the language
/// switch and the sign-out form.
enum Layout {
    static func render(_ page: ConsolePage, _ content: Console.Content) -> HTML {
        let live = content.live.map { HTML(" data-live=\"\($0)\"") } ?? .empty
        return HTML("""
            <!doctype html>
            <html lang="\(page.language == .zh ? "zh-CN" : "en")">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(content.title) · pdx</title>
            <link rel="icon" href="/console/assets/icon.svg" type="image/svg+xml">
            <link rel="stylesheet" href="/console/assets/console.css">
            <script src="/console/assets/console.js" defer></script>
            </head>
            <body>
            <header class="top">
            <a class="brand" href="/console">pdx <span>\(page.t("console", "控制台"))</span></a>
            \(navigation(page))
            </header>
            <main id="content"\(live)>
            <h1>\(content.title)</h1>
            \(content.body)
            </main>
            </body>
            </html>
            """)
    }

    /// The links of the reader's role (`nav#console-nav`), the language switch and the sign-out form.
    static func navigation(_ page: ConsolePage) -> HTML {
        guard let viewer = page.viewer else { return languages(page) }
        var links: [(String, String)] = []
        switch viewer.role {
        case .administrator:
            links = [("/console", page.t("Overview", "概览")), ("/console/gaps", page.t("Unmet demand", "未满足需求")),
                     ("/console/matches", page.t("Matches", "撮合")), ("/console/queue", page.t("Job queue", "任务队列")),
                     ("/console/pricing", page.t("Pricing rules", "定价规则")), ("/console/revenue", page.t("Revenue", "收入")),
                     ("/console/audit", page.t("Audit trail", "审计日志"))]
        case .party(let party):
            links = [("/console", party.kind == .operator ? page.t("My products", "我的产品")
                      : party.kind == .agency ? page.t("Resources and grants", "资源与授权") : page.t("My demands", "我的需求"))]
        }
        let items = links.map { link in
            let current = link.0 == page.path || (link.0 != "/console" && page.path.hasPrefix(link.0 + "/"))
            return HTML("<a href=\"\(link.0)\"\(current ? HTML(" aria-current=\"page\"") : .empty)>\(link.1)</a>")
        }
        let who: String = switch viewer.role {
        case .administrator(let name): page.t("administrator", "管理员") + " " + name
        case .party(let party): (party.kind == .operator ? page.t("operator", "运营方") : party.kind == .agency ? page.t("agency", "实施机构")
                                 : page.t("demander", "需求方")) + " " + party.name
        }
        return HTML("""
            <nav id="console-nav">\(items)</nav>
            <div class="session"><span class="who">\(who)</span> \(languages(page))
            <form id="sign-out" method="post" action="/console/sign-out">\(page.csrfField)<button type="submit">\(page.t("Sign out", "退出"))</button></form></div>
            """)
    }

    static func languages(_ page: ConsolePage) -> HTML {
        let other: ConsoleLanguage = page.language == .zh ? .en : .zh
        var query = page.query
        query["lang"] = other.rawValue
        return HTML("<a class=\"lang\" href=\"\(page.path + "?" + encode(query))\" hreflang=\"\(other == .zh ? "zh-CN" : "en")\">\(other == .zh ? "中文" : "English")</a>")
    }

    /// A query string from fields (sorted, so links are stable).
    static func encode(_ query: [String: String]) -> String {
        query.sorted { $0.key < $1.key }.map { "\(escape($0.key))=\(escape($0.value))" }.joined(separator: "&")
    }

    static func escape(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
