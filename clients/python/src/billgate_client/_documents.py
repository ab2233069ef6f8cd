"""The client's GraphQL documents (checked against schema.graphql by the tests)."""

ITEM = (
    "fragment ItemFields on Item "
    "{ itemId displayName quantity nonNegativeQuantity reserved available version }"
)
USER_ERRORS = "userErrors { code message field }"
SUBSCRIPTION = """fragment SubscriptionFields on CustomerSubscription {
  id status productId priceId quantity currentPeriodStart currentPeriodEnd cancelAtPeriodEnd
  canceledAt endedAt trialEndsAt createdAt hasAccess scheduledChange { toProductId toPriceId at } migratedAt
}"""
OWNED_PRODUCT = (
    """fragment OwnedProductFields on OwnedProduct {
  productId displayName quantity type subscription { ...SubscriptionFields }
  switchOptions { productId displayName }
}"""
    + "\n"
    + SUBSCRIPTION
)
PRODUCT = """fragment ProductFields on Product {
  id productId displayName customerType productLine { productLineId } stackable includedByDefault
  prices { priceId amounts { currency amount minorUnits } interval { unit count } }
}"""
INVOICE = (
    "fragment InvoiceFields on Invoice { id status amountTotal currency createdAt paidAt hostedInvoiceUrl "
    "number pdfUrl }"
)
PAGE_INFO = "pageInfo { hasNextPage endCursor }"

GET_ITEM = (
    """query GetItem($customer: CustomerRef!, $itemId: String!) {
  customer(customer: $customer) { item(itemId: $itemId) { ...ItemFields } }
}
"""
    + ITEM
)

LIST_ITEMS = (
    """query ListItems($customer: CustomerRef!) {
  customer(customer: $customer) { items { ...ItemFields } }
}
"""
    + ITEM
)

CHANGE_QUANTITY = (
    """mutation ($input: ChangeItemQuantityInput!) {
  %s(input: $input) { %s item { ...ItemFields } """
    + USER_ERRORS
    + """ }
}
"""
    + ITEM
)
TRY_DECREASE = CHANGE_QUANTITY % ("tryDecreaseItemQuantity", "success")
INCREASE = CHANGE_QUANTITY % ("increaseItemQuantity", "")
DECREASE = CHANGE_QUANTITY % ("decreaseItemQuantity", "")

RESERVE = (
    """mutation Reserve($input: ReserveItemQuantityInput!) {
  reserveItemQuantity(input: $input) {
    success reservation { id itemId amount status expiresAt } item { ...ItemFields } """
    + USER_ERRORS
    + """ }
}
"""
    + ITEM
)
AUTO_TOP_UP = "threshold productId priceId quantity maxPerMonth enabled lastTriggeredAt disabledReason"
SET_AUTO_TOP_UP = (
    """mutation SetAutoTopUp($input: SetAutoTopUpInput!) {
  setAutoTopUp(input: $input) { autoTopUp { """
    + AUTO_TOP_UP
    + " } "
    + USER_ERRORS
    + """ }
}
"""
)
GET_AUTO_TOP_UP = (
    """query GetAutoTopUp($customer: CustomerRef!, $itemId: String!) {
  customer(customer: $customer) { item(itemId: $itemId) { autoTopUp { """
    + AUTO_TOP_UP
    + """ } } }
}
"""
)
COMMIT_RESERVATION = (
    """mutation CommitReservation($input: CommitReservationInput!) {
  commitReservation(input: $input) { item { ...ItemFields } """
    + USER_ERRORS
    + """ }
}
"""
    + ITEM
)
RELEASE_RESERVATION = (
    """mutation ReleaseReservation($input: ReleaseReservationInput!) {
  releaseReservation(input: $input) { item { ...ItemFields } """
    + USER_ERRORS
    + """ }
}
"""
    + ITEM
)

LIST_OWNED_PRODUCTS = (
    """query ListOwnedProducts($customer: CustomerRef!, $first: Int, $after: String) {
  customer(customer: $customer) {
    products(first: $first, after: $after) { edges { node { ...OwnedProductFields } } """
    + PAGE_INFO
    + """ }
  }
}
"""
    + OWNED_PRODUCT
)

LIST_SUBSCRIPTIONS = (
    """query ListSubscriptions($customer: CustomerRef!, $first: Int, $after: String,
                                    $status: [SubscriptionStatus!]) {
  customer(customer: $customer) {
    subscriptions(first: $first, after: $after, status: $status) {
      edges { node { ...SubscriptionFields } } """
    + PAGE_INFO
    + """
    }
  }
}
"""
    + SUBSCRIPTION
)

LIST_INVOICES = (
    """query ListInvoices($customer: CustomerRef!, $first: Int, $after: String) {
  customer(customer: $customer) {
    invoices(first: $first, after: $after) { edges { node { ...InvoiceFields } } """
    + PAGE_INFO
    + """ }
  }
}
"""
    + INVOICE
)

GET_BILLING = """query GetBilling($customer: CustomerRef!) {
  customer(customer: $customer) {
    billing { hasCustomer defaultPaymentMethod { id brand last4 expMonth expYear } }
  }
}"""

HAS_ACCESS = """query HasAccess($customer: CustomerRef!, $productId: String) {
  customer(customer: $customer) { hasAccess(productId: $productId) }
}"""

CURRENT_SUBSCRIPTION = (
    """query GetCurrentSubscription($customer: CustomerRef!, $productLineId: String) {
  customer(customer: $customer) {
    currentSubscription(productLineId: $productLineId) { ...SubscriptionFields }
  }
}
"""
    + SUBSCRIPTION
)

LIST_PRODUCTS = (
    """query ListProducts($customerType: CustomerType, $first: Int, $after: String) {
  products(customerType: $customerType, first: $first, after: $after) {
    edges { node { ...ProductFields } } """
    + PAGE_INFO
    + """
  }
}
"""
    + PRODUCT
)

GET_PRODUCT = (
    """query GetProduct($productId: String!) { product(productId: $productId) { ...ProductFields } }
"""
    + PRODUCT
)

CREATE_CHECKOUT_URL = (
    """mutation CreateCheckoutUrl($input: CreateCheckoutUrlInput!) {
  createCheckoutUrl(input: $input) { url """
    + USER_ERRORS
    + """ }
}"""
)

GRANT_PRODUCT = (
    """mutation GrantProduct($input: GrantProductInput!) {
  grantProduct(input: $input) {
    ownedProduct { ...OwnedProductFields } subscription { ...SubscriptionFields } """
    + USER_ERRORS
    + """
  }
}
"""
    + OWNED_PRODUCT
)

# switchSubscription, cancelSubscription, uncancelSubscription, pauseSubscription,
# resumeSubscription, cancelScheduledChange, updateSubscriptionQuantity: the same shape.
SUBSCRIPTION_CHANGE = (
    """mutation ($input: %sInput!) {
  %s(input: $input) { subscription { ...SubscriptionFields } """
    + USER_ERRORS
    + """ }
}
"""
    + SUBSCRIPTION
)

# Reservations (reserveItemQuantity, commitReservation, releaseReservation), setAutoTopUp and
# createCustomerPortalUrl go here once schema.graphql has them.

CREATE_CUSTOMER_PORTAL_URL = (
    """mutation CreateCustomerPortalUrl($input: CreateCustomerPortalUrlInput!) {
  createCustomerPortalUrl(input: $input) { url expiresAt """
    + USER_ERRORS
    + """ }
}"""
)

PREVIEW_SWITCH_SUBSCRIPTION = (
    """mutation PreviewSwitchSubscription($input: SwitchSubscriptionInput!) {
  previewSwitchSubscription(input: $input) {
    preview { currency amountDueNow creditToAccount lines { kind description amount } } """
    + USER_ERRORS
    + """ }
}"""
)

PAY_INVOICE = (
    """mutation PayInvoice($input: PayInvoiceInput!) {
  payInvoice(input: $input) { invoice { ...InvoiceFields } """
    + USER_ERRORS
    + """ }
}
"""
    + INVOICE
)
