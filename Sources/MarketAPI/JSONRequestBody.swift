import PDXAPITypes

// Each operation's request body is an enum of its content types; every body of the contract is JSON, so
// each is read as its one value.

/// A request body with one content type, JSON.
protocol JSONRequestBody {
    associatedtype Value
    var value: Value { get }
}

extension Optional where Wrapped: JSONRequestBody, Wrapped.Value == Components.Schemas.Reason {
    /// Why, from an action's optional body.
    var reason: String? { self?.value.reason }
}

extension Operations.CreateProduct.Input.Body: JSONRequestBody { var value: Components.Schemas.NewProduct { switch self { case .json(let value): value } } }
extension Operations.UpdateProduct.Input.Body: JSONRequestBody { var value: Components.Schemas.ProductContent { switch self { case .json(let value): value } } }
extension Operations.PostDemand.Input.Body: JSONRequestBody { var value: Components.Schemas.NewDemand { switch self { case .json(let value): value } } }
extension Operations.UpdateDemand.Input.Body: JSONRequestBody { var value: Components.Schemas.NewDemand { switch self { case .json(let value): value } } }
extension Operations.RegisterResource.Input.Body: JSONRequestBody { var value: Components.Schemas.NewResource { switch self { case .json(let value): value } } }
extension Operations.GrantAuthorization.Input.Body: JSONRequestBody { var value: Components.Schemas.NewAuthorization { switch self { case .json(let value): value } } }
extension Operations.SetWebhook.Input.Body: JSONRequestBody { var value: Components.Schemas.WebhookSetting { switch self { case .json(let value): value } } }
extension Operations.ListProduct.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.SuspendProduct.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.DelistProduct.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.OpenDemand.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.CancelDemand.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.AcceptMatch.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.DeclineMatch.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.AcceptOrder.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.RejectOrder.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.DeliverOrder.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.CancelOrder.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.CompleteOrder.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.SuspendAuthorization.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.ReinstateAuthorization.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.RevokeAuthorization.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.RotateWebhookSecret.Input.Body: JSONRequestBody { var value: Components.Schemas.Reason { switch self { case .json(let value): value } } }
extension Operations.RotateKey.Input.Body: JSONRequestBody { var value: Components.Schemas.KeyRotation { switch self { case .json(let value): value } } }
extension Operations.SubmitApplication.Input.Body: JSONRequestBody { var value: Components.Schemas.NewApplication { switch self { case .json(let value): value } } }
extension Operations.ClaimApplication.Input.Body: JSONRequestBody { var value: Components.Schemas.Claim { switch self { case .json(let value): value } } }
extension Operations.ReviewDemandPurpose.Input.Body: JSONRequestBody { var value: Components.Schemas.PurposeReviewDecision { switch self { case .json(let value): value } } }
extension Operations.ProposeByHand.Input.Body: JSONRequestBody { var value: Components.Schemas.ManualProposal { switch self { case .json(let value): value } } }
extension Operations.Follow.Input.Body: JSONRequestBody { var value: Components.Schemas.NewFollow { switch self { case .json(let value): value } } }
extension Operations.PlaceOrder.Input.Body: JSONRequestBody { var value: Components.Schemas.NewOrder { switch self { case .json(let value): value } } }
extension Operations.RecordDeidentification.Input.Body: JSONRequestBody {
    var value: Components.Schemas.Deidentification { switch self { case .json(let value): value } }
}
extension Operations.CreateEntitlementToken.Input.Body: JSONRequestBody { var value: Components.Schemas.TokenRequest { switch self { case .json(let value): value } } }
extension Operations.VerifyEntitlementToken.Input.Body: JSONRequestBody { var value: Components.Schemas.TokenCheck { switch self { case .json(let value): value } } }
extension Operations.ReportUsage.Input.Body: JSONRequestBody { var value: Components.Schemas.UsageBatch { switch self { case .json(let value): value } } }
extension Operations.SubmitSandboxAnalysis.Input.Body: JSONRequestBody { var value: Components.Schemas.SandboxAnalysisRequest { switch self { case .json(let value): value } } }
