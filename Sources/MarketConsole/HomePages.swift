import Foundation
import Market
import MarketStore

extension Console {
    /// `/console`: the overview for administrators; each party's own page otherwise.
    func home(_ page: ConsolePage) async throws -> Content {
        switch page.viewer?.role {
        case .party(let party) where party.kind == .operator: try await operatorHome(page, party)
        case .party(let party) where party.kind == .agency: try await agencyHome(page, party)
        case .party(let party): try await demanderHome(page, party)
        default: try await overview(page)
        }
    }

    /// The market over the last 30 days: demand opened, matched and ordered per day, match rates by sector
    /// and province, and how long demands waited for their first proposal. Live.
    func overview(_ page: ConsolePage) async throws -> Content {
        let o = try await store.marketOverview(days: 30)
        let table = page.t("Table", "表格")
        let opened = o.opened.reduce(0, +), matched = o.matched.reduce(0, +)
        let tiles = Widgets.tiles([
            (page.t("demands open now", "当前开放需求"), Widgets.count(o.liveDemands)),
            (page.t("products listed", "已上架产品"), Widgets.count(o.listedProducts)),
            (page.t("live proposals", "待处理撮合"), Widgets.count(o.liveProposals)),
            (page.t("jobs waiting or running", "排队中的任务"), Widgets.count(o.queuedJobs)),
            (page.t("demands opened, 30 days", "30 天新开需求"), Widgets.count(opened)),
            (page.t("got a proposal", "获得撮合"), Widgets.percent(o.bySector.reduce(0) { $0 + $1.matched }, of: o.bySector.reduce(0) { $0 + $1.opened })),
        ])
        let perDay = Plot.line(PlotText(title: page.t("Demands opened, matched and ordered per day", "每日新开、撮合、下单需求"),
                                        xName: page.t("day (UTC)", "日期（UTC）"), unit: page.t("count", "数量"), table: table),
                               x: o.days, series: [
                                PlotSeries(name: page.t("opened", "新开"), values: o.opened.map(Double.init)),
                                PlotSeries(name: page.t("first proposal", "首次撮合"), values: o.matched.map(Double.init)),
                                PlotSeries(name: page.t("orders", "订单"), values: o.ordered.map(Double.init)),
                               ])
        let rate: @Sendable (Double) -> String = { String(format: "%.0f%%", $0) }
        let sectors = Plot.bars(PlotText(title: page.t("Match rate by sector (demands opened in 30 days)", "各行业撮合率（30 天内新开需求）"),
                                         xName: page.t("sector", "行业"), unit: "%", table: table),
                                bars: o.bySector.prefix(12).map { ("\($0.name) (\($0.matched)/\($0.opened))", Double($0.matched) * 100 / Double(max($0.opened, 1))) },
                                format: rate)
        let regions = Plot.bars(PlotText(title: page.t("Match rate by province (top 12 by demand)", "各省撮合率（需求最多的 12 个）"),
                                         xName: page.t("province code", "省级代码"), unit: "%", table: table),
                                bars: o.byRegion.prefix(12).map { ("\($0.code) (\($0.matched)/\($0.opened))", Double($0.matched) * 100 / Double(max($0.opened, 1))) },
                                format: rate)
        let edges = [0] + MarketOverview.firstProposalBins + [.infinity]
        let waits = Plot.histogram(PlotText(title: page.t("Time from opening to the first proposal (bins widen: 1 min, 5 min, 30 min, 2 h, 12 h, 2 d, 7 d)",
                                                          "从开放到首次撮合的时间（区间递增：1 分钟、5 分钟、30 分钟、2 小时、12 小时、2 天、7 天）"),
                                            xName: page.t("waited", "等待时长"), unit: page.t("demands", "需求数"), table: table),
                                   bins: o.firstProposal.indices.map { (edges[$0], edges[$0 + 1], o.firstProposal[$0]) },
                                   edgeFormat: { $0.isFinite ? Widgets.duration($0) : "∞" })
        let body = HTML("""
            \(tiles)
            \(perDay)
            <div class="grid">\(sectors)\(regions)</div>
            \(waits)
            <p class="muted">\(page.t("Still waiting for a first proposal:", "仍在等待首次撮合：")) \(Widgets.count(o.waitingForFirstProposal)) · \(page.t("demands first opened in the window; opened", "统计窗口内首次开放的需求；新开")) \(Widgets.count(opened)), \(page.t("with a first proposal", "获得首次撮合")) \(Widgets.count(matched)). <a href="/console/gaps">\(page.t("Why demand goes unmet", "需求为何未被满足"))</a></p>
            """)
        return Content(title: page.t("Market overview", "市场概览"), body: body, live: "overview")
    }

    /// An operator's products with views, proposals, orders and revenue over the last 30 days.
    func operatorHome(_ page: ConsolePage, _ party: Party) async throws -> Content {
        let since = try await store.now().addingTimeInterval(-29 * 86_400)
        let products = try await store.operatorProducts(party.id, since: since)
        let days = try await store.operatorDays(party.id, since: since)
        let table = page.t("Table", "表格")
        let funnel = Plot.line(PlotText(title: page.t("Views, proposals and orders per day, all products", "每日浏览、撮合与订单（全部产品）"),
                                        xName: page.t("day (UTC)", "日期（UTC）"), unit: page.t("count", "数量"), table: table),
                               x: days.map(\.day), series: [
                                PlotSeries(name: page.t("views", "浏览"), values: days.map { Double($0.views) }),
                                PlotSeries(name: page.t("proposals", "撮合"), values: days.map { Double($0.proposals) }),
                                PlotSeries(name: page.t("orders", "订单"), values: days.map { Double($0.orders) }),
                               ])
        let revenue = Plot.line(PlotText(title: page.t("Revenue per day (orders accepted, delivered or completed)", "每日收入（已接受、已交付或已完成的订单）"),
                                         xName: page.t("day (UTC)", "日期（UTC）"), unit: "¥", table: table),
                                x: days.map(\.day), series: [PlotSeries(name: page.t("revenue", "收入"), values: days.map { Double($0.revenueFen) / 100 })])
        let rows = products.map { product in
            [HTML("<a href=\"/console/products/\(Widgets.id(product.id))\">\(product.title)</a>"), HTML("<span class=\"pill\">\(product.state)</span>"),
             HTML("\(Widgets.yuan(product.listPriceFen))"), HTML("\(Widgets.count(product.views))"), HTML("\(Widgets.count(product.proposals))"),
             HTML("\(Widgets.count(product.orders))"), HTML("\(Widgets.yuan(product.revenueFen))")]
        }
        let list = Widgets.table([.init(page.t("product", "产品")), .init(page.t("state", "状态")), .init(page.t("list price", "标价"), numeric: true),
                                  .init(page.t("views", "浏览"), numeric: true), .init(page.t("proposals", "撮合"), numeric: true),
                                  .init(page.t("orders", "订单"), numeric: true), .init(page.t("revenue", "收入"), numeric: true)],
                                 rows, empty: page.t("You have no products yet.", "您还没有产品。"), id: "products")
        return Content(title: page.t("My products, last 30 days", "我的产品（近 30 天）"), body: HTML("""
            \(Widgets.tiles([(page.t("views", "浏览"), Widgets.count(days.reduce(0) { $0 + $1.views })),
                             (page.t("proposals", "撮合"), Widgets.count(days.reduce(0) { $0 + $1.proposals })),
                             (page.t("orders", "订单"), Widgets.count(days.reduce(0) { $0 + $1.orders })),
                             (page.t("revenue", "收入"), Widgets.yuan(days.reduce(0) { $0 + $1.revenueFen }))]))
            <div class="grid">\(funnel)\(revenue)</div>
            <h2>\(page.t("Products", "产品"))</h2>
            \(list)
            """))
    }

    /// One of the operator's products, day by day over 30 days (another operator's product: not found).
    func product(_ page: ConsolePage, id: UUID) async throws -> Content {
        guard case .party(let party) = page.viewer?.role else { throw MarketNotFound("product", id) }
        let stored = try await store.product(id)
        guard stored.operatorID == party.id else { throw MarketNotFound("product", id) }
        let now = try await store.now()
        let days = try await store.insights(of: id, from: now.addingTimeInterval(-29 * 86_400), to: now)
        let table = page.t("Table", "表格")
        let funnel = Plot.line(PlotText(title: page.t("Proposals and what became of them, per day", "每日撮合及其结果"),
                                        xName: page.t("day (UTC)", "日期（UTC）"), unit: page.t("count", "数量"), table: table),
                               x: days.map(\.day), series: [
                                PlotSeries(name: page.t("proposals", "撮合"), values: days.map { Double($0.proposals) }),
                                PlotSeries(name: page.t("accepted", "接受"), values: days.map { Double($0.accepted) }),
                                PlotSeries(name: page.t("declined", "拒绝"), values: days.map { Double($0.declined) }),
                                PlotSeries(name: page.t("orders", "订单"), values: days.map { Double($0.orders) }),
                               ])
        let revenue = Plot.bars(PlotText(title: page.t("Revenue per day", "每日收入"), xName: page.t("day (UTC)", "日期（UTC）"), unit: "¥", table: table),
                                bars: days.filter { $0.revenueFen > 0 }.map { ($0.day, Double($0.revenueFen) / 100) })
        return Content(title: stored.current.title, body: HTML("""
            <p><span class="pill">\(stored.state.rawValue)</span> · \(Widgets.yuan(stored.current.listPriceFen)) / \(stored.current.chargeUnit.rawValue) · <a href="/console">\(page.t("All my products", "全部产品"))</a></p>
            \(funnel)
            \(revenue)
            """))
    }

    /// An agency's resources, its grants with what was built on them, and its revocations.
    func agencyHome(_ page: ConsolePage, _ party: Party) async throws -> Content {
        let resources = try await store.resources(of: party.id, limit: 200)
        let grants = try await store.agencyGrants(party.id)
        let resourceRows = resources.map { resource in
            [HTML("\(resource.title)"), HTML("\(resource.sector)"), HTML("\(resource.regionCode.value)"), HTML("\(resource.grade.rawValue)"),
             HTML("\(resource.personalInformation ? page.t("yes", "是") : page.t("no", "否"))"),
             HTML("\(resource.deidentifiedAt.map(Widgets.time) ?? page.t("not recorded", "未记录"))")]
        }
        let grantRows = grants.map { grant in
            [HTML("<code>\(Widgets.short(grant.id))</code>"), HTML("\(grant.operatorName)"), HTML("\(grant.sectors.joined(separator: ", "))"),
             HTML("<span class=\"pill\">\(grant.state)</span>"), HTML("\(Widgets.day(grant.validUntil))"),
             HTML("\(Widgets.count(grant.listedProducts)) / \(Widgets.count(grant.products))"), HTML("\(Widgets.count(grant.orders))"),
             HTML("\(Widgets.yuan(grant.revenueFen))")]
        }
        let ended = grants.filter { $0.state == "revoked" || $0.state == "suspended" }.map { grant in
            [HTML("<code>\(Widgets.short(grant.id))</code>"), HTML("\(grant.operatorName)"), HTML("<span class=\"pill\">\(grant.state)</span>"),
             HTML("\(Widgets.time(grant.stateChangedAt))"), HTML("\(grant.stateReason ?? "–")")]
        }
        let table = page.t("Table", "表格")
        let built = Plot.bars(PlotText(title: page.t("Revenue of the products built on each grant", "各授权之上产品的收入"),
                                       xName: page.t("grant", "授权"), unit: "¥", table: table),
                              bars: grants.prefix(15).map { ("\($0.operatorName) · \(Widgets.short($0.id))", Double($0.revenueFen) / 100) })
        return Content(title: page.t("Resources and grants", "数据资源与授权"), body: HTML("""
            \(Widgets.tiles([(page.t("resources", "数据资源"), Widgets.count(resources.count)),
                             (page.t("grants in force", "有效授权"), Widgets.count(grants.filter { $0.state == "active" }.count)),
                             (page.t("products built on them", "基于授权的产品"), Widgets.count(grants.reduce(0) { $0 + $1.products })),
                             (page.t("revenue of those products", "这些产品的收入"), Widgets.yuan(grants.reduce(0) { $0 + $1.revenueFen }))]))
            <h2>\(page.t("Grants and what was built on them", "授权及其上构建的产品"))</h2>
            \(Widgets.table([.init(page.t("grant", "授权")), .init(page.t("operator", "运营方")), .init(page.t("sectors", "行业")),
                             .init(page.t("state", "状态")), .init(page.t("valid until", "有效期至")), .init(page.t("listed / all products", "上架 / 全部产品"), numeric: true),
                             .init(page.t("orders", "订单"), numeric: true), .init(page.t("revenue", "收入"), numeric: true)],
                            grantRows, empty: page.t("No grants yet.", "暂无授权。"), id: "grants"))
            \(built)
            <h2>\(page.t("Revocations and suspensions", "撤销与暂停"))</h2>
            \(Widgets.table([.init(page.t("grant", "授权")), .init(page.t("operator", "运营方")), .init(page.t("state", "状态")),
                             .init(page.t("since", "时间")), .init(page.t("reason", "原因"))],
                            ended, empty: page.t("None.", "无。"), id: "revocations"))
            <h2>\(page.t("Resources", "数据资源"))</h2>
            \(Widgets.table([.init(page.t("title", "名称")), .init(page.t("sector", "行业")), .init(page.t("region", "地区")),
                             .init(page.t("grade", "分级")), .init(page.t("personal information", "个人信息")), .init(page.t("de-identified", "去标识化"))],
                            resourceRows, empty: page.t("No resources registered yet.", "尚未登记数据资源。"), id: "resources"))
            """))
    }

    /// A demander's demands and orders.
    func demanderHome(_ page: ConsolePage, _ party: Party) async throws -> Content {
        let demands = try await store.demands(of: party.id, limit: 200)
        let orders = try await store.orders(of: party.id, limit: 200)
        let demandRows = demands.map { demand in
            [HTML("\(demand.request.title)"), HTML("\(demand.request.sector)"), HTML("<span class=\"pill\">\(demand.state.rawValue)</span>"),
             HTML("\(Widgets.yuan(demand.request.budgetFen))"), HTML("\(Widgets.day(demand.request.expiresAt))")]
        }
        let orderRows = orders.map { order in
            [HTML("<code>\(Widgets.short(order.id))</code>"), HTML("<span class=\"pill\">\(order.state.rawValue)</span>"),
             HTML("\(Widgets.count(order.quantity))"), HTML("\(Widgets.yuan(order.amountFen))"), HTML("\(order.purpose.rawValue)")]
        }
        return Content(title: page.t("My demands and orders", "我的需求与订单"), body: HTML("""
            <h2>\(page.t("Demands", "需求"))</h2>
            \(Widgets.table([.init(page.t("title", "标题")), .init(page.t("sector", "行业")), .init(page.t("state", "状态")),
                             .init(page.t("budget", "预算"), numeric: true), .init(page.t("expires", "到期"))],
                            demandRows, empty: page.t("No demands yet.", "暂无需求。"), id: "demands"))
            <h2>\(page.t("Orders", "订单"))</h2>
            \(Widgets.table([.init(page.t("order", "订单")), .init(page.t("state", "状态")), .init(page.t("quantity", "数量"), numeric: true),
                             .init(page.t("amount", "金额"), numeric: true), .init(page.t("purpose", "用途"))],
                            orderRows, empty: page.t("No orders yet.", "暂无订单。"), id: "orders"))
            """))
    }
}
