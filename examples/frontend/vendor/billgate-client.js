// @billgate/client 0.1.0 for browsers: the package and graphql-ws (MIT) in one ES module.
var __defProp = Object.defineProperty;
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};

// dist/generated/graphql.js
var graphql_exports = {};
__export(graphql_exports, {
  AutoTopUpFieldsFragmentDoc: () => AutoTopUpFieldsFragmentDoc,
  CancelScheduledChangeDocument: () => CancelScheduledChangeDocument,
  CancelSubscriptionDocument: () => CancelSubscriptionDocument,
  CommitReservationDocument: () => CommitReservationDocument,
  CreateCheckoutUrlDocument: () => CreateCheckoutUrlDocument,
  CreateCustomerPortalUrlDocument: () => CreateCustomerPortalUrlDocument,
  CreatePaymentMethodSetupIntentDocument: () => CreatePaymentMethodSetupIntentDocument,
  CustomerChangedDocument: () => CustomerChangedDocument,
  CustomerStateFieldsFragmentDoc: () => CustomerStateFieldsFragmentDoc,
  DecreaseItemQuantityDocument: () => DecreaseItemQuantityDocument,
  GetAutoTopUpDocument: () => GetAutoTopUpDocument,
  GetBillingDocument: () => GetBillingDocument,
  GetCurrentSubscriptionDocument: () => GetCurrentSubscriptionDocument,
  GetCustomerDocument: () => GetCustomerDocument,
  GetItemDocument: () => GetItemDocument,
  GetProductDocument: () => GetProductDocument,
  GrantProductDocument: () => GrantProductDocument,
  HasAccessDocument: () => HasAccessDocument,
  IncreaseItemQuantityDocument: () => IncreaseItemQuantityDocument,
  InvoiceFieldsFragmentDoc: () => InvoiceFieldsFragmentDoc,
  ItemFieldsFragmentDoc: () => ItemFieldsFragmentDoc,
  ItemQuantityChangedDocument: () => ItemQuantityChangedDocument,
  ListInvoicesDocument: () => ListInvoicesDocument,
  ListItemsDocument: () => ListItemsDocument,
  ListOwnedProductsDocument: () => ListOwnedProductsDocument,
  ListProductsDocument: () => ListProductsDocument,
  ListSubscriptionsDocument: () => ListSubscriptionsDocument,
  MoneyFieldsFragmentDoc: () => MoneyFieldsFragmentDoc,
  OwnedProductFieldsFragmentDoc: () => OwnedProductFieldsFragmentDoc,
  PauseSubscriptionDocument: () => PauseSubscriptionDocument,
  PayInvoiceDocument: () => PayInvoiceDocument,
  PaymentMethodFieldsFragmentDoc: () => PaymentMethodFieldsFragmentDoc,
  PreviewSwitchSubscriptionDocument: () => PreviewSwitchSubscriptionDocument,
  PriceFieldsFragmentDoc: () => PriceFieldsFragmentDoc,
  ProductFieldsFragmentDoc: () => ProductFieldsFragmentDoc,
  ReleaseReservationDocument: () => ReleaseReservationDocument,
  ReserveItemQuantityDocument: () => ReserveItemQuantityDocument,
  ResumeSubscriptionDocument: () => ResumeSubscriptionDocument,
  SetAutoTopUpDocument: () => SetAutoTopUpDocument,
  SetDefaultPaymentMethodFromSetupIntentDocument: () => SetDefaultPaymentMethodFromSetupIntentDocument,
  SubscriptionFieldsFragmentDoc: () => SubscriptionFieldsFragmentDoc,
  SwitchSubscriptionDocument: () => SwitchSubscriptionDocument,
  TryDecreaseItemQuantityDocument: () => TryDecreaseItemQuantityDocument,
  TypedDocumentString: () => TypedDocumentString,
  UncancelSubscriptionDocument: () => UncancelSubscriptionDocument,
  UpdateCustomerDocument: () => UpdateCustomerDocument,
  UpdateSubscriptionQuantityDocument: () => UpdateSubscriptionQuantityDocument,
  UserErrorFieldsFragmentDoc: () => UserErrorFieldsFragmentDoc
});
var TypedDocumentString = class extends String {
  __apiType;
  value;
  __meta__;
  constructor(value, __meta__) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }
  toString() {
    return this.value;
  }
};
var ItemFieldsFragmentDoc = new TypedDocumentString(`
    fragment ItemFields on Item {
  itemId
  displayName
  quantity
  nonNegativeQuantity
  reserved
  available
  version
}
    `, { "fragmentName": "ItemFields" });
var UserErrorFieldsFragmentDoc = new TypedDocumentString(`
    fragment UserErrorFields on UserError {
  code
  message
  field
}
    `, { "fragmentName": "UserErrorFields" });
var MoneyFieldsFragmentDoc = new TypedDocumentString(`
    fragment MoneyFields on Money {
  currency
  amount
  minorUnits
}
    `, { "fragmentName": "MoneyFields" });
var PriceFieldsFragmentDoc = new TypedDocumentString(`
    fragment PriceFields on Price {
  priceId
  amounts {
    ...MoneyFields
  }
  interval {
    unit
    count
  }
  freeTrial {
    unit
    count
  }
}
    fragment MoneyFields on Money {
  currency
  amount
  minorUnits
}`, { "fragmentName": "PriceFields" });
var ProductFieldsFragmentDoc = new TypedDocumentString(`
    fragment ProductFields on Product {
  id
  productId
  displayName
  customerType
  productLine {
    productLineId
    displayName
  }
  prices {
    ...PriceFields
  }
  includedItems {
    item {
      itemId
      displayName
    }
    quantity
    repeat {
      unit
      count
    }
    expires
  }
  freeTrial {
    unit
    count
  }
  stackable
  includedByDefault
}
    fragment MoneyFields on Money {
  currency
  amount
  minorUnits
}
fragment PriceFields on Price {
  priceId
  amounts {
    ...MoneyFields
  }
  interval {
    unit
    count
  }
  freeTrial {
    unit
    count
  }
}`, { "fragmentName": "ProductFields" });
var InvoiceFieldsFragmentDoc = new TypedDocumentString(`
    fragment InvoiceFields on Invoice {
  id
  status
  amountTotal
  currency
  createdAt
  paidAt
  hostedInvoiceUrl
  number
  pdfUrl
}
    `, { "fragmentName": "InvoiceFields" });
var PaymentMethodFieldsFragmentDoc = new TypedDocumentString(`
    fragment PaymentMethodFields on PaymentMethod {
  id
  brand
  last4
  expMonth
  expYear
}
    `, { "fragmentName": "PaymentMethodFields" });
var SubscriptionFieldsFragmentDoc = new TypedDocumentString(`
    fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}
    `, { "fragmentName": "SubscriptionFields" });
var OwnedProductFieldsFragmentDoc = new TypedDocumentString(`
    fragment OwnedProductFields on OwnedProduct {
  productId
  displayName
  quantity
  type
  subscription {
    ...SubscriptionFields
  }
  switchOptions {
    productId
    displayName
    prices {
      ...PriceFields
    }
  }
}
    fragment MoneyFields on Money {
  currency
  amount
  minorUnits
}
fragment PriceFields on Price {
  priceId
  amounts {
    ...MoneyFields
  }
  interval {
    unit
    count
  }
  freeTrial {
    unit
    count
  }
}
fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}`, { "fragmentName": "OwnedProductFields" });
var CustomerStateFieldsFragmentDoc = new TypedDocumentString(`
    fragment CustomerStateFields on Customer {
  id
  type
  customerId
  products(first: 100) {
    edges {
      node {
        ...OwnedProductFields
      }
    }
  }
  subscriptions(first: 100, status: [TRIALING, ACTIVE, PAST_DUE, PAUSED]) {
    edges {
      node {
        ...SubscriptionFields
      }
    }
  }
}
    fragment MoneyFields on Money {
  currency
  amount
  minorUnits
}
fragment PriceFields on Price {
  priceId
  amounts {
    ...MoneyFields
  }
  interval {
    unit
    count
  }
  freeTrial {
    unit
    count
  }
}
fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}
fragment OwnedProductFields on OwnedProduct {
  productId
  displayName
  quantity
  type
  subscription {
    ...SubscriptionFields
  }
  switchOptions {
    productId
    displayName
    prices {
      ...PriceFields
    }
  }
}`, { "fragmentName": "CustomerStateFields" });
var AutoTopUpFieldsFragmentDoc = new TypedDocumentString(`
    fragment AutoTopUpFields on AutoTopUp {
  threshold
  productId
  priceId
  quantity
  maxPerMonth
  enabled
  lastTriggeredAt
  disabledReason
}
    `, { "fragmentName": "AutoTopUpFields" });
var CreatePaymentMethodSetupIntentDocument = new TypedDocumentString(`
    mutation CreatePaymentMethodSetupIntent($input: CreatePaymentMethodSetupIntentInput!) {
  createPaymentMethodSetupIntent(input: $input) {
    setupIntentId
    clientSecret
    stripeAccountId
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}`);
var SetDefaultPaymentMethodFromSetupIntentDocument = new TypedDocumentString(`
    mutation SetDefaultPaymentMethodFromSetupIntent($input: SetDefaultPaymentMethodFromSetupIntentInput!) {
  setDefaultPaymentMethodFromSetupIntent(input: $input) {
    paymentMethod {
      ...PaymentMethodFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}
fragment PaymentMethodFields on PaymentMethod {
  id
  brand
  last4
  expMonth
  expYear
}`);
var UpdateCustomerDocument = new TypedDocumentString(`
    mutation UpdateCustomer($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) {
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}`);
var CreateCustomerPortalUrlDocument = new TypedDocumentString(`
    mutation CreateCustomerPortalUrl($input: CreateCustomerPortalUrlInput!) {
  createCustomerPortalUrl(input: $input) {
    url
    expiresAt
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}`);
var PreviewSwitchSubscriptionDocument = new TypedDocumentString(`
    mutation PreviewSwitchSubscription($input: SwitchSubscriptionInput!) {
  previewSwitchSubscription(input: $input) {
    preview {
      currency
      amountDueNow
      creditToAccount
      lines {
        kind
        description
        quantity
        amount
        periodStart
        periodEnd
      }
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}`);
var PayInvoiceDocument = new TypedDocumentString(`
    mutation PayInvoice($input: PayInvoiceInput!) {
  payInvoice(input: $input) {
    invoice {
      ...InvoiceFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}
fragment InvoiceFields on Invoice {
  id
  status
  amountTotal
  currency
  createdAt
  paidAt
  hostedInvoiceUrl
  number
  pdfUrl
}`);
var ListProductsDocument = new TypedDocumentString(`
    query ListProducts($customerType: CustomerType, $first: Int, $after: String) {
  products(customerType: $customerType, first: $first, after: $after) {
    edges {
      node {
        ...ProductFields
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    fragment MoneyFields on Money {
  currency
  amount
  minorUnits
}
fragment PriceFields on Price {
  priceId
  amounts {
    ...MoneyFields
  }
  interval {
    unit
    count
  }
  freeTrial {
    unit
    count
  }
}
fragment ProductFields on Product {
  id
  productId
  displayName
  customerType
  productLine {
    productLineId
    displayName
  }
  prices {
    ...PriceFields
  }
  includedItems {
    item {
      itemId
      displayName
    }
    quantity
    repeat {
      unit
      count
    }
    expires
  }
  freeTrial {
    unit
    count
  }
  stackable
  includedByDefault
}`);
var GetProductDocument = new TypedDocumentString(`
    query GetProduct($productId: String!) {
  product(productId: $productId) {
    ...ProductFields
  }
}
    fragment MoneyFields on Money {
  currency
  amount
  minorUnits
}
fragment PriceFields on Price {
  priceId
  amounts {
    ...MoneyFields
  }
  interval {
    unit
    count
  }
  freeTrial {
    unit
    count
  }
}
fragment ProductFields on Product {
  id
  productId
  displayName
  customerType
  productLine {
    productLineId
    displayName
  }
  prices {
    ...PriceFields
  }
  includedItems {
    item {
      itemId
      displayName
    }
    quantity
    repeat {
      unit
      count
    }
    expires
  }
  freeTrial {
    unit
    count
  }
  stackable
  includedByDefault
}`);
var GetItemDocument = new TypedDocumentString(`
    query GetItem($customer: CustomerRef!, $itemId: String!) {
  customer(customer: $customer) {
    item(itemId: $itemId) {
      ...ItemFields
    }
  }
}
    fragment ItemFields on Item {
  itemId
  displayName
  quantity
  nonNegativeQuantity
  reserved
  available
  version
}`);
var ListItemsDocument = new TypedDocumentString(`
    query ListItems($customer: CustomerRef!) {
  customer(customer: $customer) {
    items {
      ...ItemFields
    }
  }
}
    fragment ItemFields on Item {
  itemId
  displayName
  quantity
  nonNegativeQuantity
  reserved
  available
  version
}`);
var GetCustomerDocument = new TypedDocumentString(`
    query GetCustomer($customer: CustomerRef!) {
  customer(customer: $customer) {
    ...CustomerStateFields
  }
}
    fragment MoneyFields on Money {
  currency
  amount
  minorUnits
}
fragment PriceFields on Price {
  priceId
  amounts {
    ...MoneyFields
  }
  interval {
    unit
    count
  }
  freeTrial {
    unit
    count
  }
}
fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}
fragment OwnedProductFields on OwnedProduct {
  productId
  displayName
  quantity
  type
  subscription {
    ...SubscriptionFields
  }
  switchOptions {
    productId
    displayName
    prices {
      ...PriceFields
    }
  }
}
fragment CustomerStateFields on Customer {
  id
  type
  customerId
  products(first: 100) {
    edges {
      node {
        ...OwnedProductFields
      }
    }
  }
  subscriptions(first: 100, status: [TRIALING, ACTIVE, PAST_DUE, PAUSED]) {
    edges {
      node {
        ...SubscriptionFields
      }
    }
  }
}`);
var ListOwnedProductsDocument = new TypedDocumentString(`
    query ListOwnedProducts($customer: CustomerRef!, $first: Int, $after: String) {
  customer(customer: $customer) {
    products(first: $first, after: $after) {
      edges {
        node {
          ...OwnedProductFields
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
}
    fragment MoneyFields on Money {
  currency
  amount
  minorUnits
}
fragment PriceFields on Price {
  priceId
  amounts {
    ...MoneyFields
  }
  interval {
    unit
    count
  }
  freeTrial {
    unit
    count
  }
}
fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}
fragment OwnedProductFields on OwnedProduct {
  productId
  displayName
  quantity
  type
  subscription {
    ...SubscriptionFields
  }
  switchOptions {
    productId
    displayName
    prices {
      ...PriceFields
    }
  }
}`);
var ListSubscriptionsDocument = new TypedDocumentString(`
    query ListSubscriptions($customer: CustomerRef!, $first: Int, $after: String, $status: [SubscriptionStatus!]) {
  customer(customer: $customer) {
    subscriptions(first: $first, after: $after, status: $status) {
      edges {
        node {
          ...SubscriptionFields
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
}
    fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}`);
var ListInvoicesDocument = new TypedDocumentString(`
    query ListInvoices($customer: CustomerRef!, $first: Int, $after: String) {
  customer(customer: $customer) {
    invoices(first: $first, after: $after) {
      edges {
        node {
          ...InvoiceFields
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
}
    fragment InvoiceFields on Invoice {
  id
  status
  amountTotal
  currency
  createdAt
  paidAt
  hostedInvoiceUrl
  number
  pdfUrl
}`);
var GetBillingDocument = new TypedDocumentString(`
    query GetBilling($customer: CustomerRef!) {
  customer(customer: $customer) {
    billing {
      hasCustomer
      defaultPaymentMethod {
        ...PaymentMethodFields
      }
    }
  }
}
    fragment PaymentMethodFields on PaymentMethod {
  id
  brand
  last4
  expMonth
  expYear
}`);
var HasAccessDocument = new TypedDocumentString(`
    query HasAccess($customer: CustomerRef!, $productId: String) {
  customer(customer: $customer) {
    hasAccess(productId: $productId)
  }
}
    `);
var GetCurrentSubscriptionDocument = new TypedDocumentString(`
    query GetCurrentSubscription($customer: CustomerRef!, $productLineId: String) {
  customer(customer: $customer) {
    currentSubscription(productLineId: $productLineId) {
      ...SubscriptionFields
    }
  }
}
    fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}`);
var TryDecreaseItemQuantityDocument = new TypedDocumentString(`
    mutation TryDecreaseItemQuantity($input: ChangeItemQuantityInput!) {
  tryDecreaseItemQuantity(input: $input) {
    success
    item {
      ...ItemFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment ItemFields on Item {
  itemId
  displayName
  quantity
  nonNegativeQuantity
  reserved
  available
  version
}
fragment UserErrorFields on UserError {
  code
  message
  field
}`);
var IncreaseItemQuantityDocument = new TypedDocumentString(`
    mutation IncreaseItemQuantity($input: ChangeItemQuantityInput!) {
  increaseItemQuantity(input: $input) {
    item {
      ...ItemFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment ItemFields on Item {
  itemId
  displayName
  quantity
  nonNegativeQuantity
  reserved
  available
  version
}
fragment UserErrorFields on UserError {
  code
  message
  field
}`);
var DecreaseItemQuantityDocument = new TypedDocumentString(`
    mutation DecreaseItemQuantity($input: ChangeItemQuantityInput!) {
  decreaseItemQuantity(input: $input) {
    item {
      ...ItemFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment ItemFields on Item {
  itemId
  displayName
  quantity
  nonNegativeQuantity
  reserved
  available
  version
}
fragment UserErrorFields on UserError {
  code
  message
  field
}`);
var ReserveItemQuantityDocument = new TypedDocumentString(`
    mutation ReserveItemQuantity($input: ReserveItemQuantityInput!) {
  reserveItemQuantity(input: $input) {
    success
    reservation {
      id
      itemId
      amount
      status
      expiresAt
    }
    item {
      ...ItemFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment ItemFields on Item {
  itemId
  displayName
  quantity
  nonNegativeQuantity
  reserved
  available
  version
}
fragment UserErrorFields on UserError {
  code
  message
  field
}`);
var CommitReservationDocument = new TypedDocumentString(`
    mutation CommitReservation($input: CommitReservationInput!) {
  commitReservation(input: $input) {
    item {
      ...ItemFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment ItemFields on Item {
  itemId
  displayName
  quantity
  nonNegativeQuantity
  reserved
  available
  version
}
fragment UserErrorFields on UserError {
  code
  message
  field
}`);
var ReleaseReservationDocument = new TypedDocumentString(`
    mutation ReleaseReservation($input: ReleaseReservationInput!) {
  releaseReservation(input: $input) {
    item {
      ...ItemFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment ItemFields on Item {
  itemId
  displayName
  quantity
  nonNegativeQuantity
  reserved
  available
  version
}
fragment UserErrorFields on UserError {
  code
  message
  field
}`);
var SetAutoTopUpDocument = new TypedDocumentString(`
    mutation SetAutoTopUp($input: SetAutoTopUpInput!) {
  setAutoTopUp(input: $input) {
    autoTopUp {
      ...AutoTopUpFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}
fragment AutoTopUpFields on AutoTopUp {
  threshold
  productId
  priceId
  quantity
  maxPerMonth
  enabled
  lastTriggeredAt
  disabledReason
}`);
var GetAutoTopUpDocument = new TypedDocumentString(`
    query GetAutoTopUp($customer: CustomerRef!, $itemId: String!) {
  customer(customer: $customer) {
    item(itemId: $itemId) {
      autoTopUp {
        ...AutoTopUpFields
      }
    }
  }
}
    fragment AutoTopUpFields on AutoTopUp {
  threshold
  productId
  priceId
  quantity
  maxPerMonth
  enabled
  lastTriggeredAt
  disabledReason
}`);
var ItemQuantityChangedDocument = new TypedDocumentString(`
    subscription ItemQuantityChanged($customer: CustomerRef!, $itemId: String!) {
  itemQuantityChanged(customer: $customer, itemId: $itemId) {
    ...ItemFields
  }
}
    fragment ItemFields on Item {
  itemId
  displayName
  quantity
  nonNegativeQuantity
  reserved
  available
  version
}`);
var CustomerChangedDocument = new TypedDocumentString(`
    subscription CustomerChanged($customer: CustomerRef!) {
  customerChanged(customer: $customer) {
    ...CustomerStateFields
  }
}
    fragment MoneyFields on Money {
  currency
  amount
  minorUnits
}
fragment PriceFields on Price {
  priceId
  amounts {
    ...MoneyFields
  }
  interval {
    unit
    count
  }
  freeTrial {
    unit
    count
  }
}
fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}
fragment OwnedProductFields on OwnedProduct {
  productId
  displayName
  quantity
  type
  subscription {
    ...SubscriptionFields
  }
  switchOptions {
    productId
    displayName
    prices {
      ...PriceFields
    }
  }
}
fragment CustomerStateFields on Customer {
  id
  type
  customerId
  products(first: 100) {
    edges {
      node {
        ...OwnedProductFields
      }
    }
  }
  subscriptions(first: 100, status: [TRIALING, ACTIVE, PAST_DUE, PAUSED]) {
    edges {
      node {
        ...SubscriptionFields
      }
    }
  }
}`);
var CreateCheckoutUrlDocument = new TypedDocumentString(`
    mutation CreateCheckoutUrl($input: CreateCheckoutUrlInput!) {
  createCheckoutUrl(input: $input) {
    url
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}`);
var GrantProductDocument = new TypedDocumentString(`
    mutation GrantProduct($input: GrantProductInput!) {
  grantProduct(input: $input) {
    ownedProduct {
      ...OwnedProductFields
    }
    subscription {
      ...SubscriptionFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}
fragment MoneyFields on Money {
  currency
  amount
  minorUnits
}
fragment PriceFields on Price {
  priceId
  amounts {
    ...MoneyFields
  }
  interval {
    unit
    count
  }
  freeTrial {
    unit
    count
  }
}
fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}
fragment OwnedProductFields on OwnedProduct {
  productId
  displayName
  quantity
  type
  subscription {
    ...SubscriptionFields
  }
  switchOptions {
    productId
    displayName
    prices {
      ...PriceFields
    }
  }
}`);
var SwitchSubscriptionDocument = new TypedDocumentString(`
    mutation SwitchSubscription($input: SwitchSubscriptionInput!) {
  switchSubscription(input: $input) {
    subscription {
      ...SubscriptionFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}
fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}`);
var CancelScheduledChangeDocument = new TypedDocumentString(`
    mutation CancelScheduledChange($input: CancelScheduledChangeInput!) {
  cancelScheduledChange(input: $input) {
    subscription {
      ...SubscriptionFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}
fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}`);
var UpdateSubscriptionQuantityDocument = new TypedDocumentString(`
    mutation UpdateSubscriptionQuantity($input: UpdateSubscriptionQuantityInput!) {
  updateSubscriptionQuantity(input: $input) {
    subscription {
      ...SubscriptionFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}
fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}`);
var CancelSubscriptionDocument = new TypedDocumentString(`
    mutation CancelSubscription($input: CancelSubscriptionInput!) {
  cancelSubscription(input: $input) {
    subscription {
      ...SubscriptionFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}
fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}`);
var UncancelSubscriptionDocument = new TypedDocumentString(`
    mutation UncancelSubscription($input: UncancelSubscriptionInput!) {
  uncancelSubscription(input: $input) {
    subscription {
      ...SubscriptionFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}
fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}`);
var PauseSubscriptionDocument = new TypedDocumentString(`
    mutation PauseSubscription($input: PauseSubscriptionInput!) {
  pauseSubscription(input: $input) {
    subscription {
      ...SubscriptionFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}
fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}`);
var ResumeSubscriptionDocument = new TypedDocumentString(`
    mutation ResumeSubscription($input: ResumeSubscriptionInput!) {
  resumeSubscription(input: $input) {
    subscription {
      ...SubscriptionFields
    }
    userErrors {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}
fragment SubscriptionFields on CustomerSubscription {
  id
  status
  productId
  priceId
  quantity
  currentPeriodStart
  currentPeriodEnd
  cancelAtPeriodEnd
  canceledAt
  endedAt
  trialEndsAt
  createdAt
  hasAccess
  dunning {
    inDunning
    daysPastDue
    gracePeriodDays
    gracePeriodEndsAt
    hasAccess
    nextRetryAt
  }
  scheduledChange {
    toProductId
    toPriceId
    at
  }
  migratedAt
}`);

// dist/credentials.js
var REFRESH_BEFORE_EXPIRY_MS = 5e3;
var Credentials = class {
  #secretKey;
  #getToken;
  #token;
  #pending;
  constructor(options) {
    if (options.secretKey && options.getToken) {
      throw new TypeError("Billgate: pass either secretKey (a backend) or getToken (a browser), not both");
    }
    this.#secretKey = options.secretKey;
    this.#getToken = options.getToken;
  }
  /** Whether a refused credential may be replaced by asking `getToken` again. */
  get refreshable() {
    return this.#getToken !== void 0;
  }
  /** The `Authorization` value to send, or undefined for an anonymous caller. */
  async authorization() {
    if (this.#secretKey)
      return `Bearer ${this.#secretKey}`;
    if (!this.#getToken)
      return void 0;
    return `Bearer ${await this.#currentToken(this.#getToken)}`;
  }
  /** The server refused the token (expired or otherwise): the next call asks `getToken`. */
  invalidate() {
    this.#token = void 0;
  }
  async #currentToken(getToken) {
    const cached = this.#token;
    if (cached && cached.expiresAt - Date.now() > REFRESH_BEFORE_EXPIRY_MS)
      return cached.value;
    this.#pending ??= (async () => {
      try {
        const value = await getToken();
        if (typeof value !== "string" || !value)
          throw new TypeError("Billgate: getToken returned no token");
        this.#token = { value, expiresAt: tokenExpiry(value) };
        return value;
      } finally {
        this.#pending = void 0;
      }
    })();
    return this.#pending;
  }
};
function tokenExpiry(token) {
  const payload = token.split(".")[1];
  if (!payload)
    return Number.POSITIVE_INFINITY;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = JSON.parse(json).exp;
    return typeof exp === "number" ? exp * 1e3 : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

// dist/errors.js
var BillgateError = class _BillgateError extends Error {
  name = "BillgateError";
  code;
  /** The input field the error is about, when the server named one (e.g. `["returnUrl"]`). */
  field;
  /** Every user error of the mutation (the first one gives `code` and `message`). */
  userErrors;
  /** The HTTP status, when the answer had one other than 200. */
  status;
  constructor(code, message, options = {}) {
    super(message, options.cause === void 0 ? void 0 : { cause: options.cause });
    this.code = code;
    this.field = options.field ?? null;
    this.userErrors = options.userErrors ?? [];
    this.status = options.status;
  }
  /** The error of a mutation payload's `userErrors` (the first one names the code). */
  static fromUserErrors(userErrors) {
    const [first] = userErrors;
    if (!first)
      return new _BillgateError("GRAPHQL_ERROR", "the operation failed without a reason");
    return new _BillgateError(first.code, first.message, { field: first.field, userErrors });
  }
};
function fromGraphQLErrors(errors, status) {
  const first = errors[0] ?? {};
  const code = typeof first.extensions?.code === "string" ? first.extensions.code : "GRAPHQL_ERROR";
  const message = typeof first.message === "string" ? first.message : "GraphQL error";
  return new BillgateError(code, message, status === void 0 ? {} : { status });
}
function throwUserErrors(payload) {
  if (payload.userErrors.length)
    throw BillgateError.fromUserErrors(payload.userErrors);
}

// dist/types.js
function customerState(customer) {
  return {
    id: customer.id,
    type: customer.type,
    customerId: customer.customerId,
    products: customer.products.edges.map((edge) => edge.node),
    subscriptions: customer.subscriptions.edges.map((edge) => edge.node)
  };
}
function page(connection) {
  return {
    items: connection.edges.map((edge) => edge.node),
    nextCursor: connection.pageInfo.hasNextPage ? connection.pageInfo.endCursor : null
  };
}
function pageVariables(options = {}) {
  return {
    ...options.limit === void 0 ? {} : { first: options.limit },
    ...options.cursor ? { after: options.cursor } : {}
  };
}

// dist/customer.js
var BillgateCustomer = class {
  transport;
  ref;
  constructor(transport, ref) {
    this.transport = transport;
    this.ref = ref;
  }
  // --- items ---------------------------------------------------------------------------
  /** A handle on one of the customer's items (balances): read, consume, grant, watch. */
  item(itemId) {
    return new BillgateItem(this.transport, this.ref, itemId);
  }
  /** The balance now (0 until something was granted). */
  getItem(itemId) {
    return this.item(itemId).get();
  }
  /** Every item of the customer's type with its balance. */
  async listItems() {
    const data = await this.transport.request(ListItemsDocument, { customer: this.ref });
    return data.customer.items;
  }
  /**
   * Live: `onChange` gets the balance now, then each committed change (versions increasing).
   * Survives token expiry and reconnects; after each one the balance is read again.
   */
  onItem(itemId, onChange, onError) {
    return this.item(itemId).onChange(onChange, onError);
  }
  // --- the customer's products and plans ----------------------------------------------
  /** What the customer owns and its live subscriptions. */
  async getCustomer() {
    const data = await this.transport.request(GetCustomerDocument, { customer: this.ref });
    return customerState(data.customer);
  }
  /**
   * Live: the customer's state now, then again after each committed change of its products,
   * subscriptions or invoices (a checkout, a switch, a cancel, a renewal, a failed payment).
   */
  onCustomer(onChange, onError) {
    return this.transport.listen(CustomerChangedDocument, { customer: this.ref }, (data) => customerState(data.customerChanged), onChange, onError);
  }
  /** The products the customer owns, one entry per product (stackable ones summed). */
  async listProducts(options = {}) {
    const data = await this.transport.request(ListOwnedProductsDocument, { customer: this.ref, ...pageVariables(options) });
    return page(data.customer.products);
  }
  /** Subscriptions, newest first (past ones too unless `status` says otherwise). */
  async listSubscriptions(options = {}) {
    const data = await this.transport.request(ListSubscriptionsDocument, {
      customer: this.ref,
      ...pageVariables(options),
      ...options.status ? { status: options.status } : {}
    });
    return page(data.customer.subscriptions);
  }
  /**
   * Should the customer get what the product gives (owned, or a subscription with access)?
   * Without a product: whether any subscription gives access now (StackBE's checkAccess).
   */
  async hasAccess(productId) {
    const data = await this.transport.request(HasAccessDocument, { customer: this.ref, productId: productId ?? null });
    return data.customer.hasAccess;
  }
  /** The newest live subscription (of a product line, if given), or null. */
  async getCurrentSubscription(options = {}) {
    const data = await this.transport.request(GetCurrentSubscriptionDocument, { customer: this.ref, productLineId: options.productLineId ?? null });
    return data.customer.currentSubscription;
  }
  /**
   * A link to billgate's hosted checkout (single use, 24 h). `returnUrl` must be allow-listed.
   * `quantity`: seats of a subscription (up to the price's `quantityMax`); `promoCode` (any case)
   * is checked now (PROMO_CODE_INVALID says why not) and counted when the checkout is paid.
   */
  async createCheckoutUrl(options) {
    const data = await this.transport.request(CreateCheckoutUrlDocument, { input: { customer: this.ref, ...options } });
    throwUserErrors(data.createCheckoutUrl);
    return required(data.createCheckoutUrl.url, "createCheckoutUrl");
  }
  /** Give a product without checkout (secret key only). */
  async grantProduct(options) {
    const data = await this.transport.request(GrantProductDocument, { input: { customer: this.ref, ...options } });
    throwUserErrors(data.grantProduct);
    return { ownedProduct: data.grantProduct.ownedProduct, subscription: data.grantProduct.subscription };
  }
  /** Move a live subscription to another plan of its line, prorated by time now, or at the period end (`when: "PERIOD_END"`). */
  async switchSubscription(options) {
    const data = await this.transport.request(SwitchSubscriptionDocument, { input: { customer: this.ref, ...options } });
    return subscriptionOf(data.switchSubscription, "switchSubscription");
  }
  /**
   * Drop the plan change waiting for the period end (from `switchSubscription` with
   * `when: "PERIOD_END"`, or a price migration); the subscription renews as it is.
   */
  async cancelScheduledChange(options) {
    const data = await this.transport.request(CancelScheduledChangeDocument, { input: { customer: this.ref, ...options } });
    return subscriptionOf(data.cancelScheduledChange, "cancelScheduledChange");
  }
  /**
   * Seats: more is charged now, prorated (a decline throws PAYMENT_FAILED and changes nothing);
   * fewer take effect now with a prorated credit toward future invoices. Included items scale
   * with the quantity.
   */
  async updateSubscriptionQuantity(options) {
    const data = await this.transport.request(UpdateSubscriptionQuantityDocument, { input: { customer: this.ref, ...options } });
    return subscriptionOf(data.updateSubscriptionQuantity, "updateSubscriptionQuantity");
  }
  /** Cancel at the end of the paid period (access until then), or `immediately`. */
  async cancelSubscription(options) {
    const data = await this.transport.request(CancelSubscriptionDocument, { input: { customer: this.ref, ...options } });
    return subscriptionOf(data.cancelSubscription, "cancelSubscription");
  }
  /** Undo a pending period-end cancel. */
  async uncancelSubscription(options) {
    const data = await this.transport.request(UncancelSubscriptionDocument, { input: { customer: this.ref, ...options } });
    return subscriptionOf(data.uncancelSubscription, "uncancelSubscription");
  }
  /** Stop billing and access, until resumed (at `resumesAt`, an ISO date-time, if given). */
  async pauseSubscription(options) {
    const data = await this.transport.request(PauseSubscriptionDocument, { input: { customer: this.ref, ...options } });
    return subscriptionOf(data.pauseSubscription, "pauseSubscription");
  }
  /** Restart billing with a new period, charged now. */
  async resumeSubscription(options) {
    const data = await this.transport.request(ResumeSubscriptionDocument, { input: { customer: this.ref, ...options } });
    return subscriptionOf(data.resumeSubscription, "resumeSubscription");
  }
  // --- invoices and billing -----------------------------------------------------------
  /** Invoices, newest first: `{ items, nextCursor }`. */
  async listInvoices(options = {}) {
    const data = await this.transport.request(ListInvoicesDocument, { customer: this.ref, ...pageVariables(options) });
    return page(data.customer.invoices);
  }
  /** Whether the customer has a payment customer, and its default card. */
  async getBilling() {
    const data = await this.transport.request(GetBillingDocument, { customer: this.ref });
    return data.customer.billing;
  }
  /**
   * Live mode: a Stripe SetupIntent; give `clientSecret` (and `stripeAccountId`, for a
   * connected account) to Stripe Elements. Test mode: LIVE_MODE_ONLY.
   */
  async createPaymentMethodSetupIntent() {
    const data = await this.transport.request(CreatePaymentMethodSetupIntentDocument, { input: { customer: this.ref } });
    const payload = data.createPaymentMethodSetupIntent;
    throwUserErrors(payload);
    return {
      setupIntentId: required(payload.setupIntentId, "createPaymentMethodSetupIntent"),
      clientSecret: required(payload.clientSecret, "createPaymentMethodSetupIntent"),
      stripeAccountId: payload.stripeAccountId
    };
  }
  /** After Stripe Elements confirmed the SetupIntent: make its card the default one. */
  async setDefaultPaymentMethodFromSetupIntent(setupIntentId) {
    const data = await this.transport.request(SetDefaultPaymentMethodFromSetupIntentDocument, { input: { customer: this.ref, setupIntentId } });
    throwUserErrors(data.setDefaultPaymentMethodFromSetupIntent);
    return required(data.setDefaultPaymentMethodFromSetupIntent.paymentMethod, "setDefaultPaymentMethodFromSetupIntent");
  }
  /** Where receipts and payment-failed emails go ("" removes it). */
  async setEmail(email) {
    const data = await this.transport.request(UpdateCustomerDocument, { input: { customer: this.ref, email } });
    throwUserErrors(data.updateCustomer);
  }
  /**
   * A link to billgate's customer portal for this customer (valid one hour; then a session
   * cookie bound to it). `returnUrl` (the portal's link back) must be allow-listed.
   */
  async createCustomerPortalUrl(options) {
    const data = await this.transport.request(CreateCustomerPortalUrlDocument, { input: { customer: this.ref, ...options } });
    const payload = data.createCustomerPortalUrl;
    throwUserErrors(payload);
    return {
      url: required(payload.url, "createCustomerPortalUrl"),
      expiresAt: required(payload.expiresAt, "createCustomerPortalUrl")
    };
  }
  /** What `switchSubscription` would charge, credit and write now; writes nothing. */
  async previewSwitchSubscription(options) {
    const data = await this.transport.request(PreviewSwitchSubscriptionDocument, { input: { customer: this.ref, ...options } });
    throwUserErrors(data.previewSwitchSubscription);
    return required(data.previewSwitchSubscription.preview, "previewSwitchSubscription");
  }
  /** Pay an OPEN invoice with the default card (a decline throws PAYMENT_FAILED; it stays OPEN). */
  async payInvoice(invoiceId) {
    const data = await this.transport.request(PayInvoiceDocument, { input: { customer: this.ref, invoiceId } });
    throwUserErrors(data.payInvoice);
    return required(data.payInvoice.invoice, "payInvoice");
  }
};
var BillgateItem = class {
  transport;
  customer;
  itemId;
  constructor(transport, customer, itemId) {
    this.transport = transport;
    this.customer = customer;
    this.itemId = itemId;
  }
  async get() {
    const data = await this.transport.request(GetItemDocument, { customer: this.customer, itemId: this.itemId });
    return data.customer.item;
  }
  /**
   * Consume `amount` only if the balance stays at or above 0 (atomic, never oversells):
   * true when consumed, false when the balance was too low (nothing changed).
   * Secret key only. With `idempotencyKey`, a retry changes nothing more.
   */
  async tryDecreaseQuantity(amount, options = {}) {
    const data = await this.transport.request(TryDecreaseItemQuantityDocument, { input: this.#input(amount, options) });
    const payload = data.tryDecreaseItemQuantity;
    if (payload.success)
      return true;
    if (payload.userErrors.every((error) => error.code === "INSUFFICIENT_QUANTITY"))
      return false;
    throw BillgateError.fromUserErrors(payload.userErrors);
  }
  /** Grant `amount` (optionally expiring at `expiresAt`, an ISO date-time). Secret key only. */
  async increaseQuantity(amount, options = {}) {
    const data = await this.transport.request(IncreaseItemQuantityDocument, { input: this.#input(amount, options) });
    throwUserErrors(data.increaseItemQuantity);
    return required(data.increaseItemQuantity.item, "increaseItemQuantity");
  }
  /** Remove `amount`; the balance may go negative (debt). Secret key only. */
  async decreaseQuantity(amount, options = {}) {
    const data = await this.transport.request(DecreaseItemQuantityDocument, { input: this.#input(amount, options) });
    throwUserErrors(data.decreaseItemQuantity);
    return required(data.decreaseItemQuantity.item, "decreaseItemQuantity");
  }
  /** Live: the balance now, then each committed change; survives token expiry and reconnects. */
  onChange(onChange, onError) {
    return this.transport.listen(ItemQuantityChangedDocument, { customer: this.customer, itemId: this.itemId }, (data) => data.itemQuantityChanged, onChange, onError);
  }
  /**
   * Hold `amount` against `available` (quantity - reserved) until committed, released or
   * expired (after `ttlSeconds`, 300 by default): the reservation, or null when `available`
   * was too low (nothing changed). Atomic like tryDecreaseQuantity. Secret key only.
   */
  async reserve(amount, options = {}) {
    const data = await this.transport.request(ReserveItemQuantityDocument, {
      input: { customer: this.customer, itemId: this.itemId, amount, ...options }
    });
    const payload = data.reserveItemQuantity;
    if (payload.success)
      return required(payload.reservation, "reserveItemQuantity");
    if (payload.userErrors.every((error) => error.code === "INSUFFICIENT_QUANTITY"))
      return null;
    throw BillgateError.fromUserErrors(payload.userErrors);
  }
  /** Use `amount` of a held reservation (all by default; one ledger change), releasing the rest. */
  async commit(reservationId, amount) {
    const data = await this.transport.request(CommitReservationDocument, { input: { reservationId, amount } });
    throwUserErrors(data.commitReservation);
    return required(data.commitReservation.item, "commitReservation");
  }
  /** Let go of a held reservation. */
  async release(reservationId) {
    const data = await this.transport.request(ReleaseReservationDocument, { input: { reservationId } });
    throwUserErrors(data.releaseReservation);
    return required(data.releaseReservation.item, "releaseReservation");
  }
  /**
   * Set (or replace) the auto top-up of this item: the product is bought, charged
   * off-session to the default card, when a change takes `available` to `threshold` or
   * below. A customer token sets its own; a secret key anyone's.
   */
  async setAutoTopUp(settings) {
    const data = await this.transport.request(SetAutoTopUpDocument, {
      input: { customer: this.customer, itemId: this.itemId, ...settings }
    });
    throwUserErrors(data.setAutoTopUp);
    return required(data.setAutoTopUp.autoTopUp, "setAutoTopUp");
  }
  /** The auto top-up of this item, or null when none was set. */
  async getAutoTopUp() {
    const data = await this.transport.request(GetAutoTopUpDocument, { customer: this.customer, itemId: this.itemId });
    return data.customer.item.autoTopUp;
  }
  #input(amount, options) {
    return { customer: this.customer, itemId: this.itemId, amount, ...options };
  }
};
function subscriptionOf(payload, operation) {
  throwUserErrors(payload);
  return required(payload.subscription, operation);
}
function required(value, operation) {
  if (value == null)
    throw new BillgateError("GRAPHQL_ERROR", `${operation} answered without a result`);
  return value;
}

// dist/http.js
async function postGraphQL(options, document, variables) {
  const first = await attempt(options, document, variables);
  if (first.status === 401 && options.credentials.refreshable) {
    options.credentials.invalidate();
    return resultOf(await attempt(options, document, variables));
  }
  return resultOf(first);
}
async function attempt(options, document, variables) {
  const authorization = await options.credentials.authorization();
  const headers = {
    ...options.headers,
    "Content-Type": "application/json",
    Accept: "application/json"
  };
  if (authorization)
    headers.Authorization = authorization;
  let response;
  try {
    response = await options.fetch(options.url, {
      method: "POST",
      headers,
      body: JSON.stringify({ query: String(document), variables: variables ?? {} })
    });
  } catch (cause) {
    throw new BillgateError("NETWORK_ERROR", `billgate at ${options.url} could not be reached: ${describe(cause)}`, { cause });
  }
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = void 0;
  }
  return { status: response.status, body, text };
}
function resultOf(answer) {
  const { status, body, text } = answer;
  if (body?.errors?.length)
    throw fromGraphQLErrors(body.errors, status === 200 ? void 0 : status);
  if (status !== 200 || !body || body.data == null) {
    throw new BillgateError("HTTP_ERROR", `billgate answered HTTP ${status}: ${text.slice(0, 200)}`, { status });
  }
  return body.data;
}
function describe(cause) {
  if (cause instanceof Error) {
    const inner = cause.cause;
    return inner instanceof Error ? `${cause.message} (${inner.message})` : cause.message;
  }
  return String(cause);
}

// ../../node_modules/graphql-ws/dist/common-CGW11Fyb.js
function extendedTypeof(val) {
  if (val === null) {
    return "null";
  }
  if (Array.isArray(val)) {
    return "array";
  }
  return typeof val;
}
function isObject(val) {
  return extendedTypeof(val) === "object";
}
function areGraphQLFormattedErrors(obj) {
  return Array.isArray(obj) && // must be at least one error
  obj.length > 0 && // error has at least a message
  obj.every((ob) => "message" in ob);
}
function limitCloseReason(reason, whenTooLong) {
  return reason.length < 124 ? reason : whenTooLong;
}
var GRAPHQL_TRANSPORT_WS_PROTOCOL = "graphql-transport-ws";
var CloseCode = /* @__PURE__ */ ((CloseCode2) => {
  CloseCode2[CloseCode2["InternalServerError"] = 4500] = "InternalServerError";
  CloseCode2[CloseCode2["InternalClientError"] = 4005] = "InternalClientError";
  CloseCode2[CloseCode2["BadRequest"] = 4400] = "BadRequest";
  CloseCode2[CloseCode2["BadResponse"] = 4004] = "BadResponse";
  CloseCode2[CloseCode2["Unauthorized"] = 4401] = "Unauthorized";
  CloseCode2[CloseCode2["Forbidden"] = 4403] = "Forbidden";
  CloseCode2[CloseCode2["SubprotocolNotAcceptable"] = 4406] = "SubprotocolNotAcceptable";
  CloseCode2[CloseCode2["ConnectionInitialisationTimeout"] = 4408] = "ConnectionInitialisationTimeout";
  CloseCode2[CloseCode2["ConnectionAcknowledgementTimeout"] = 4504] = "ConnectionAcknowledgementTimeout";
  CloseCode2[CloseCode2["SubscriberAlreadyExists"] = 4409] = "SubscriberAlreadyExists";
  CloseCode2[CloseCode2["TooManyInitialisationRequests"] = 4429] = "TooManyInitialisationRequests";
  return CloseCode2;
})(CloseCode || {});
var MessageType = /* @__PURE__ */ ((MessageType2) => {
  MessageType2["ConnectionInit"] = "connection_init";
  MessageType2["ConnectionAck"] = "connection_ack";
  MessageType2["Ping"] = "ping";
  MessageType2["Pong"] = "pong";
  MessageType2["Subscribe"] = "subscribe";
  MessageType2["Next"] = "next";
  MessageType2["Error"] = "error";
  MessageType2["Complete"] = "complete";
  return MessageType2;
})(MessageType || {});
function validateMessage(val) {
  if (!isObject(val)) {
    throw new Error(
      `Message is expected to be an object, but got ${extendedTypeof(val)}`
    );
  }
  if (!val.type) {
    throw new Error(`Message is missing the 'type' property`);
  }
  if (typeof val.type !== "string") {
    throw new Error(
      `Message is expects the 'type' property to be a string, but got ${extendedTypeof(
        val.type
      )}`
    );
  }
  switch (val.type) {
    case "connection_init":
    case "connection_ack":
    case "ping":
    case "pong": {
      if (val.payload != null && !isObject(val.payload)) {
        throw new Error(
          `"${val.type}" message expects the 'payload' property to be an object or nullish or missing, but got "${val.payload}"`
        );
      }
      break;
    }
    case "subscribe": {
      if (typeof val.id !== "string") {
        throw new Error(
          `"${val.type}" message expects the 'id' property to be a string, but got ${extendedTypeof(
            val.id
          )}`
        );
      }
      if (!val.id) {
        throw new Error(
          `"${val.type}" message requires a non-empty 'id' property`
        );
      }
      if (!isObject(val.payload)) {
        throw new Error(
          `"${val.type}" message expects the 'payload' property to be an object, but got ${extendedTypeof(
            val.payload
          )}`
        );
      }
      if (typeof val.payload.query !== "string") {
        throw new Error(
          `"${val.type}" message payload expects the 'query' property to be a string, but got ${extendedTypeof(
            val.payload.query
          )}`
        );
      }
      if (val.payload.variables != null && !isObject(val.payload.variables)) {
        throw new Error(
          `"${val.type}" message payload expects the 'variables' property to be a an object or nullish or missing, but got ${extendedTypeof(
            val.payload.variables
          )}`
        );
      }
      if (val.payload.operationName != null && extendedTypeof(val.payload.operationName) !== "string") {
        throw new Error(
          `"${val.type}" message payload expects the 'operationName' property to be a string or nullish or missing, but got ${extendedTypeof(
            val.payload.operationName
          )}`
        );
      }
      if (val.payload.extensions != null && !isObject(val.payload.extensions)) {
        throw new Error(
          `"${val.type}" message payload expects the 'extensions' property to be a an object or nullish or missing, but got ${extendedTypeof(
            val.payload.extensions
          )}`
        );
      }
      break;
    }
    case "next": {
      if (typeof val.id !== "string") {
        throw new Error(
          `"${val.type}" message expects the 'id' property to be a string, but got ${extendedTypeof(
            val.id
          )}`
        );
      }
      if (!val.id) {
        throw new Error(
          `"${val.type}" message requires a non-empty 'id' property`
        );
      }
      if (!isObject(val.payload)) {
        throw new Error(
          `"${val.type}" message expects the 'payload' property to be an object, but got ${extendedTypeof(
            val.payload
          )}`
        );
      }
      break;
    }
    case "error": {
      if (typeof val.id !== "string") {
        throw new Error(
          `"${val.type}" message expects the 'id' property to be a string, but got ${extendedTypeof(
            val.id
          )}`
        );
      }
      if (!val.id) {
        throw new Error(
          `"${val.type}" message requires a non-empty 'id' property`
        );
      }
      if (!areGraphQLFormattedErrors(val.payload)) {
        throw new Error(
          `"${val.type}" message expects the 'payload' property to be an array of GraphQL errors, but got ${JSON.stringify(
            val.payload
          )}`
        );
      }
      break;
    }
    case "complete": {
      if (typeof val.id !== "string") {
        throw new Error(
          `"${val.type}" message expects the 'id' property to be a string, but got ${extendedTypeof(
            val.id
          )}`
        );
      }
      if (!val.id) {
        throw new Error(
          `"${val.type}" message requires a non-empty 'id' property`
        );
      }
      break;
    }
    default:
      throw new Error(`Invalid message 'type' property "${val.type}"`);
  }
  return val;
}
function parseMessage(data, reviver) {
  return validateMessage(
    typeof data === "string" ? JSON.parse(data, reviver) : data
  );
}
function stringifyMessage(msg, replacer) {
  validateMessage(msg);
  return JSON.stringify(msg, replacer);
}

// ../../node_modules/graphql-ws/dist/client.js
function createClient(options) {
  const {
    url,
    connectionParams,
    lazy = true,
    onNonLazyError = console.error,
    lazyCloseTimeout: lazyCloseTimeoutMs = 0,
    keepAlive = 0,
    disablePong,
    connectionAckWaitTimeout = 0,
    retryAttempts = 5,
    retryWait = async function randomisedExponentialBackoff(retries2) {
      const retryDelaySeconds = Math.pow(2, retries2);
      await new Promise(
        (resolve) => setTimeout(
          resolve,
          retryDelaySeconds * 1e3 + // add random timeout from 300ms to 3s
          Math.floor(Math.random() * (3e3 - 300) + 300)
        )
      );
    },
    shouldRetry = isLikeCloseEvent,
    on,
    webSocketImpl,
    /**
     * Generates a v4 UUID to be used as the ID using `Math`
     * as the random number generator. Supply your own generator
     * in case you need more uniqueness.
     *
     * Reference: https://gist.github.com/jed/982883
     */
    generateID = function generateUUID() {
      return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (c) => {
        const r = Math.random() * 16 | 0, v = c == "x" ? r : r & 3 | 8;
        return v.toString(16);
      });
    },
    jsonMessageReplacer: replacer,
    jsonMessageReviver: reviver
  } = options;
  let ws;
  if (webSocketImpl) {
    if (!isWebSocket(webSocketImpl)) {
      throw new Error("Invalid WebSocket implementation provided");
    }
    ws = webSocketImpl;
  } else if (typeof WebSocket !== "undefined") {
    ws = WebSocket;
  } else if (typeof global !== "undefined") {
    ws = global.WebSocket || // @ts-expect-error: Support more browsers
    global.MozWebSocket;
  } else if (typeof window !== "undefined") {
    ws = window.WebSocket || // @ts-expect-error: Support more browsers
    window.MozWebSocket;
  }
  if (!ws)
    throw new Error(
      "WebSocket implementation missing; on Node you can `import WebSocket from 'ws';` and pass `webSocketImpl: WebSocket` to `createClient`"
    );
  const WebSocketImpl = ws;
  const emitter = (() => {
    const message = /* @__PURE__ */ (() => {
      const listeners2 = {};
      return {
        on(id, listener) {
          listeners2[id] = listener;
          return () => {
            delete listeners2[id];
          };
        },
        emit(message2) {
          if ("id" in message2) listeners2[message2.id]?.(message2);
        }
      };
    })();
    const listeners = {
      connecting: on?.connecting ? [on.connecting] : [],
      opened: on?.opened ? [on.opened] : [],
      connected: on?.connected ? [on.connected] : [],
      ping: on?.ping ? [on.ping] : [],
      pong: on?.pong ? [on.pong] : [],
      message: on?.message ? [message.emit, on.message] : [message.emit],
      closed: on?.closed ? [on.closed] : [],
      error: on?.error ? [on.error] : []
    };
    return {
      onMessage: message.on,
      on(event, listener) {
        const l = listeners[event];
        l.push(listener);
        return () => {
          const i = l.indexOf(listener);
          if (i > -1) {
            l.splice(i, 1);
          }
        };
      },
      emit(event, ...args) {
        for (const listener of [...listeners[event]]) {
          listener(...args);
        }
      }
    };
  })();
  function errorOrClosed(cb) {
    const listening = [
      // errors are fatal and more critical than close events, throw them first
      emitter.on("error", (err) => {
        listening.forEach((unlisten) => unlisten());
        cb(err);
      }),
      // closes can be graceful and not fatal, throw them second (if error didnt throw)
      emitter.on("closed", (event) => {
        listening.forEach((unlisten) => unlisten());
        cb(event);
      })
    ];
    return () => listening.forEach((unlisten) => unlisten());
  }
  let connecting, locks = 0, lazyCloseTimeout, retrying = false, retries = 0, disposed = false;
  async function connect() {
    clearTimeout(lazyCloseTimeout);
    const [socket, throwOnClose] = await (connecting ?? (connecting = new Promise(
      (connected, denied) => (async () => {
        if (retrying) {
          await retryWait(retries);
          if (!locks) {
            connecting = void 0;
            return denied({ code: 1e3, reason: "All Subscriptions Gone" });
          }
          retries++;
        }
        emitter.emit("connecting", retrying);
        const socket2 = new WebSocketImpl(
          typeof url === "function" ? await url() : url,
          GRAPHQL_TRANSPORT_WS_PROTOCOL
        );
        let connectionAckTimeout, queuedPing;
        function enqueuePing() {
          if (isFinite(keepAlive) && keepAlive > 0) {
            clearTimeout(queuedPing);
            queuedPing = setTimeout(() => {
              if (socket2.readyState === WebSocketImpl.OPEN) {
                socket2.send(stringifyMessage({ type: MessageType.Ping }));
                emitter.emit("ping", false, void 0);
              }
            }, keepAlive);
          }
        }
        errorOrClosed((errOrEvent) => {
          connecting = void 0;
          clearTimeout(connectionAckTimeout);
          clearTimeout(queuedPing);
          denied(errOrEvent);
          if (errOrEvent instanceof TerminatedCloseEvent) {
            socket2.close(4499, "Terminated");
            socket2.onerror = null;
            socket2.onclose = null;
          }
        });
        socket2.onerror = (err) => emitter.emit("error", err);
        socket2.onclose = (event) => emitter.emit("closed", event);
        socket2.onopen = async () => {
          try {
            emitter.emit("opened", socket2);
            const payload = typeof connectionParams === "function" ? await connectionParams() : connectionParams;
            if (socket2.readyState !== WebSocketImpl.OPEN) return;
            socket2.send(
              stringifyMessage(
                payload ? {
                  type: MessageType.ConnectionInit,
                  payload
                } : {
                  type: MessageType.ConnectionInit
                  // payload is completely absent if not provided
                },
                replacer
              )
            );
            if (isFinite(connectionAckWaitTimeout) && connectionAckWaitTimeout > 0) {
              connectionAckTimeout = setTimeout(() => {
                socket2.close(
                  CloseCode.ConnectionAcknowledgementTimeout,
                  "Connection acknowledgement timeout"
                );
              }, connectionAckWaitTimeout);
            }
            enqueuePing();
          } catch (err) {
            emitter.emit("error", err);
            socket2.close(
              CloseCode.InternalClientError,
              limitCloseReason(
                err instanceof Error ? err.message : String(err),
                "Internal client error"
              )
            );
          }
        };
        let acknowledged = false;
        socket2.onmessage = ({ data }) => {
          try {
            const message = parseMessage(data, reviver);
            emitter.emit("message", message);
            if (message.type === "ping" || message.type === "pong") {
              emitter.emit(message.type, true, message.payload);
              if (message.type === "pong") {
                enqueuePing();
              } else if (!disablePong) {
                socket2.send(
                  stringifyMessage(
                    message.payload ? {
                      type: MessageType.Pong,
                      payload: message.payload
                    } : {
                      type: MessageType.Pong
                      // payload is completely absent if not provided
                    },
                    replacer
                  )
                );
                emitter.emit("pong", false, message.payload);
              }
              return;
            }
            if (acknowledged) return;
            if (message.type !== MessageType.ConnectionAck)
              throw new Error(
                `First message cannot be of type ${message.type}`
              );
            clearTimeout(connectionAckTimeout);
            acknowledged = true;
            emitter.emit("connected", socket2, message.payload, retrying);
            retrying = false;
            retries = 0;
            const throwOnClose2 = new Promise(
              (_, reject) => errorOrClosed(reject)
            );
            throwOnClose2.catch(() => {
            });
            connected([socket2, throwOnClose2]);
          } catch (err) {
            socket2.onmessage = null;
            emitter.emit("error", err);
            socket2.close(
              CloseCode.BadResponse,
              limitCloseReason(
                err instanceof Error ? err.message : String(err),
                "Bad response"
              )
            );
          }
        };
      })()
    )));
    if (socket.readyState === WebSocketImpl.CLOSING) await throwOnClose;
    let release = () => {
    };
    const released = new Promise((resolve) => release = resolve);
    return [
      socket,
      release,
      // resolves on release or rejects on error/close, whichever comes first.
      // not racing with throwOnClose on purpose, it lives as long as the socket
      // and every race would leak memory per operation
      new Promise((resolve, reject) => {
        const unlisten = errorOrClosed(reject);
        if (socket.readyState !== WebSocketImpl.OPEN)
          throwOnClose.catch(reject);
        released.then(() => {
          unlisten();
          if (!locks) {
            const complete = () => socket.close(1e3, "Normal Closure");
            if (isFinite(lazyCloseTimeoutMs) && lazyCloseTimeoutMs > 0) {
              clearTimeout(lazyCloseTimeout);
              lazyCloseTimeout = setTimeout(() => {
                if (!locks && socket.readyState === WebSocketImpl.OPEN)
                  complete();
              }, lazyCloseTimeoutMs);
            } else {
              complete();
            }
          }
          resolve();
        });
      })
    ];
  }
  function shouldRetryConnectOrThrow(errOrCloseEvent) {
    if (isLikeCloseEvent(errOrCloseEvent) && (isFatalInternalCloseCode(errOrCloseEvent.code) || [
      CloseCode.InternalServerError,
      CloseCode.InternalClientError,
      CloseCode.BadRequest,
      CloseCode.BadResponse,
      CloseCode.Unauthorized,
      // CloseCode.Forbidden, might grant access out after retry
      CloseCode.SubprotocolNotAcceptable,
      // CloseCode.ConnectionInitialisationTimeout, might not time out after retry
      // CloseCode.ConnectionAcknowledgementTimeout, might not time out after retry
      CloseCode.SubscriberAlreadyExists,
      CloseCode.TooManyInitialisationRequests
      // 4499, // Terminated, probably because the socket froze, we want to retry
    ].includes(errOrCloseEvent.code)))
      throw errOrCloseEvent;
    if (disposed) return false;
    if (isLikeCloseEvent(errOrCloseEvent) && errOrCloseEvent.code === 1e3)
      return locks > 0;
    if (!retryAttempts || retries >= retryAttempts) throw errOrCloseEvent;
    if (!shouldRetry(errOrCloseEvent)) throw errOrCloseEvent;
    return retrying = true;
  }
  if (!lazy) {
    (async () => {
      locks++;
      for (; ; ) {
        try {
          const [, , throwOnClose] = await connect();
          await throwOnClose;
        } catch (errOrCloseEvent) {
          try {
            if (!shouldRetryConnectOrThrow(errOrCloseEvent)) return;
          } catch (errOrCloseEvent2) {
            return onNonLazyError?.(errOrCloseEvent2);
          }
        }
      }
    })();
  }
  function subscribe(payload, sink) {
    const id = generateID(payload);
    let done = false, errored = false, releaser = () => {
      locks--;
      done = true;
    };
    (async () => {
      locks++;
      for (; ; ) {
        try {
          const [socket, release, waitForReleaseOrThrowOnClose] = await connect();
          if (done) {
            waitForReleaseOrThrowOnClose.catch(() => {
            });
            return release();
          }
          const unlisten = emitter.onMessage(id, (message) => {
            switch (message.type) {
              case MessageType.Next: {
                sink.next(message.payload);
                return;
              }
              case MessageType.Error: {
                errored = true, done = true;
                sink.error(message.payload);
                releaser();
                return;
              }
              case MessageType.Complete: {
                done = true;
                releaser();
                return;
              }
            }
          });
          socket.send(
            stringifyMessage(
              {
                id,
                type: MessageType.Subscribe,
                payload
              },
              replacer
            )
          );
          releaser = () => {
            if (!done && socket.readyState === WebSocketImpl.OPEN)
              socket.send(
                stringifyMessage(
                  {
                    id,
                    type: MessageType.Complete
                  },
                  replacer
                )
              );
            locks--;
            done = true;
            release();
          };
          await waitForReleaseOrThrowOnClose.finally(unlisten);
          return;
        } catch (errOrCloseEvent) {
          if (!shouldRetryConnectOrThrow(errOrCloseEvent)) return;
        }
      }
    })().then(() => {
      if (!errored) sink.complete();
    }).catch((err) => {
      sink.error(err);
    });
    return () => {
      if (!done) releaser();
    };
  }
  return {
    on: emitter.on,
    subscribe,
    iterate(request) {
      const pending = [];
      const deferred = {
        done: false,
        error: null,
        resolve: () => {
        }
      };
      const dispose = subscribe(request, {
        next(val) {
          pending.push(val);
          deferred.resolve();
        },
        error(err) {
          deferred.done = true;
          deferred.error = err;
          deferred.resolve();
        },
        complete() {
          deferred.done = true;
          deferred.resolve();
        }
      });
      const iterator = (async function* iterator2() {
        for (; ; ) {
          if (!pending.length) {
            await new Promise((resolve) => deferred.resolve = resolve);
          }
          while (pending.length) {
            yield pending.shift();
          }
          if (deferred.error) {
            throw deferred.error;
          }
          if (deferred.done) {
            return;
          }
        }
      })();
      iterator.throw = async (err) => {
        if (!deferred.done) {
          deferred.done = true;
          deferred.error = err;
          deferred.resolve();
        }
        return { done: true, value: void 0 };
      };
      iterator.return = async () => {
        dispose();
        return { done: true, value: void 0 };
      };
      return iterator;
    },
    async dispose() {
      disposed = true;
      if (connecting) {
        const [socket] = await connecting;
        socket.close(1e3, "Normal Closure");
      }
    },
    terminate() {
      if (connecting) {
        emitter.emit("closed", new TerminatedCloseEvent());
      }
    }
  };
}
var TerminatedCloseEvent = class extends Error {
  name = "TerminatedCloseEvent";
  message = "4499: Terminated";
  code = 4499;
  reason = "Terminated";
  wasClean = false;
};
function isLikeCloseEvent(val) {
  return isObject(val) && "code" in val && "reason" in val;
}
function isFatalInternalCloseCode(code) {
  if ([
    1e3,
    // Normal Closure is not an erroneous close code
    1001,
    // Going Away
    1006,
    // Abnormal Closure
    1005,
    // No Status Received
    1012,
    // Service Restart
    1013,
    // Try Again Later
    1014
    // Bad Gateway
  ].includes(code))
    return false;
  return code >= 1e3 && code <= 1999;
}
function isWebSocket(val) {
  return typeof val === "function" && "constructor" in val && "CLOSED" in val && "CLOSING" in val && "CONNECTING" in val && "OPEN" in val;
}

// dist/websocket.browser.js
var Impl = globalThis.WebSocket;
var websocket_browser_default = Impl;

// dist/live.js
var PING_EVERY_MS = 12e3;
var PONG_WITHIN_MS = 6e3;
var TOKEN_REFUSED = 4403;
var RETRYABLE = /* @__PURE__ */ new Set(["DATABASE_UNAVAILABLE"]);
var LiveConnection = class {
  #options;
  #client;
  #feeds = /* @__PURE__ */ new Map();
  #status = "idle";
  #statusListeners = /* @__PURE__ */ new Set();
  constructor(options) {
    this.#options = options;
  }
  get status() {
    return this.#status;
  }
  onStatus(listener) {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }
  /** Listen to `select(data)` of a subscription; the first call gets the current state. */
  listen(document, variables, select, next, error) {
    const key = `${String(document)}
${JSON.stringify(variables)}`;
    let feed = this.#feeds.get(key);
    if (!feed) {
      feed = new Feed(this, String(document), variables, (data) => select(data), () => this.#feeds.delete(key));
      this.#feeds.set(key, feed);
    }
    return feed.add({ next, error });
  }
  /** Close the WebSocket; listeners stop receiving. */
  async close() {
    for (const feed of [...this.#feeds.values()])
      feed.stop();
    const client = this.#client;
    this.#client = void 0;
    await client?.dispose();
    this.#setStatus("idle");
  }
  get client() {
    this.#client ??= this.#createClient();
    return this.#client;
  }
  backoff(attempt2) {
    return backoffMs(attempt2, this.#options.maxReconnectDelayMs);
  }
  #setStatus(status) {
    if (status === this.#status)
      return;
    this.#status = status;
    for (const listener of [...this.#statusListeners])
      listener(status);
  }
  #createClient() {
    const { credentials, wsUrl } = this.#options;
    const webSocketImpl = this.#options.webSocketImpl ?? websocket_browser_default;
    if (!webSocketImpl) {
      throw new BillgateError("NETWORK_ERROR", "no WebSocket implementation: pass webSocketImpl (e.g. the npm ws package)");
    }
    let pongTimer;
    let client;
    client = createClient({
      url: wsUrl,
      webSocketImpl,
      lazy: true,
      keepAlive: PING_EVERY_MS,
      connectionAckWaitTimeout: 15e3,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => true,
      retryWait: (retries) => sleep(this.backoff(retries)),
      // Called on every (re)connection: a fresh token when the old one was refused.
      connectionParams: async () => {
        const authorization = await credentials.authorization();
        return authorization ? { Authorization: authorization } : {};
      },
      on: {
        connecting: (isRetry) => this.#setStatus(isRetry ? "reconnecting" : "connecting"),
        connected: () => this.#setStatus("connected"),
        closed: (event) => {
          clearTimeout(pongTimer);
          if (event?.code === TOKEN_REFUSED)
            credentials.invalidate();
          if (this.#feeds.size)
            this.#setStatus("reconnecting");
          else
            this.#setStatus("idle");
        },
        ping: (received) => {
          if (!received)
            pongTimer = setTimeout(() => client.terminate(), PONG_WITHIN_MS);
        },
        pong: (received) => {
          if (received)
            clearTimeout(pongTimer);
        }
      }
    });
    return client;
  }
};
var Feed = class {
  connection;
  query;
  variables;
  select;
  onEmpty;
  #listeners = /* @__PURE__ */ new Set();
  #last;
  #stopSubscription;
  #restartTimer;
  // Each server subscription gets a number; callbacks of an earlier one are ignored.
  #attempt = 0;
  #failures = 0;
  #stopped = false;
  constructor(connection, query, variables, select, onEmpty) {
    this.connection = connection;
    this.query = query;
    this.variables = variables;
    this.select = select;
    this.onEmpty = onEmpty;
  }
  add(listener) {
    this.#listeners.add(listener);
    const last = this.#last;
    if (last)
      queueMicrotask(() => this.#listeners.has(listener) && listener.next(last.value));
    if (this.#attempt === 0)
      this.#start();
    return () => {
      this.#listeners.delete(listener);
      if (!this.#listeners.size)
        this.stop();
    };
  }
  stop() {
    if (this.#stopped)
      return;
    this.#stopped = true;
    this.#unsubscribe();
    this.#listeners.clear();
    this.onEmpty();
  }
  #start() {
    this.#restartTimer = void 0;
    if (this.#stopped)
      return;
    const attempt2 = ++this.#attempt;
    let client;
    try {
      client = this.connection.client;
    } catch (error) {
      this.#fail(error instanceof BillgateError ? error : new BillgateError("NETWORK_ERROR", String(error)));
      return;
    }
    const current = () => attempt2 === this.#attempt && !this.#stopped;
    this.#stopSubscription = client.subscribe({ query: this.query, variables: this.variables }, {
      next: (result) => current() && this.#receive(result),
      error: (error) => current() && this.#lost(error),
      // The server ended the subscription (it is shutting down): start it again.
      complete: () => current() && this.#lost(void 0)
    });
  }
  #receive(result) {
    if (result.errors?.length) {
      const error = fromGraphQLErrors(result.errors);
      if (RETRYABLE.has(error.code))
        this.#restart();
      else
        this.#fail(error);
      return;
    }
    if (result.data == null)
      return;
    this.#failures = 0;
    const value = this.select(result.data);
    const json = JSON.stringify(value);
    if (this.#last?.json === json)
      return;
    this.#last = { json, value };
    for (const listener of [...this.#listeners])
      listener.next(value);
  }
  // graphql-ws reconnects by itself after a dropped connection or a token expiry (and the
  // subscription's first message re-reads the state). What reaches here is what it does not
  // retry (getToken threw, the server answered 4500, ...): subscribe again after a backoff.
  // A GraphQL error (FORBIDDEN, ITEM_NOT_FOUND) is the server's answer and ends the feed.
  #lost(error) {
    if (Array.isArray(error))
      this.#fail(fromGraphQLErrors(error));
    else
      this.#restart();
  }
  #restart() {
    this.#unsubscribe();
    this.#restartTimer = setTimeout(() => this.#start(), this.connection.backoff(++this.#failures));
  }
  #unsubscribe() {
    this.#attempt++;
    clearTimeout(this.#restartTimer);
    const stop = this.#stopSubscription;
    this.#stopSubscription = void 0;
    stop?.();
  }
  #fail(error) {
    const listeners = [...this.#listeners];
    this.stop();
    for (const listener of listeners)
      listener.error?.(error);
  }
};
function backoffMs(attempt2, maxMs) {
  if (attempt2 <= 0)
    return Math.random() * 100;
  const ceiling = Math.min(maxMs, 500 * 2 ** (attempt2 - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// dist/client.js
var Billgate = class {
  url;
  #http;
  #live;
  constructor(options) {
    if (!options?.url)
      throw new TypeError("Billgate: `url` (the GraphQL endpoint, .../graphql) is required");
    this.url = options.url;
    const credentials = new Credentials(options);
    const fetchImpl = options.fetch ?? globalThis.fetch?.bind(globalThis);
    if (!fetchImpl)
      throw new TypeError("Billgate: no fetch here; pass `fetch`");
    this.#http = { url: options.url, credentials, fetch: fetchImpl, headers: options.headers ?? {} };
    this.#live = new LiveConnection({
      wsUrl: options.wsUrl ?? options.url.replace(/^http/i, "ws"),
      credentials,
      webSocketImpl: options.webSocketImpl,
      maxReconnectDelayMs: options.maxReconnectDelayMs ?? 1e4
    });
  }
  /** A customer's handle: `app.customer({ type: "USER", customerId: "u-1" })`. */
  customer(ref) {
    return new BillgateCustomer(this, { type: ref.type, customerId: ref.customerId });
  }
  /** The catalog's products (public ones for customer tokens and anonymous callers). */
  async listProducts(options = {}) {
    const data = await this.request(ListProductsDocument, {
      ...pageVariables(options),
      ...options.customerType ? { customerType: options.customerType } : {}
    });
    return page(data.products);
  }
  /** One catalog product, or null. */
  async getProduct(productId) {
    return (await this.request(GetProductDocument, { productId })).product;
  }
  /** Give a product without checkout (secret key only). */
  grantProduct(options) {
    const { customer, ...rest } = options;
    return this.customer(customer).grantProduct(rest);
  }
  /** Cancel a customer's subscription (the seed's `app.cancelSubscription`). */
  cancelSubscription(options) {
    const { customer, ...rest } = options;
    return this.customer(customer).cancelSubscription(rest);
  }
  /** Any operation, e.g. one of your own typed documents; throws BillgateError on errors. */
  request(document, variables) {
    return postGraphQL(this.#http, document, variables);
  }
  /** Any subscription, shared and kept alive like onItem; `select` picks the value to pass on. */
  listen(document, variables, select, onChange, onError) {
    return this.#live.listen(document, variables, select, onChange, onError);
  }
  /** The live connection: "idle" (nothing listening), "connecting", "connected", "reconnecting". */
  get connectionStatus() {
    return this.#live.status;
  }
  onConnectionStatus(listener) {
    return this.#live.onStatus(listener);
  }
  /** Close the live connection (listeners stop). HTTP calls keep working. */
  close() {
    return this.#live.close();
  }
};

// dist/index.js
var VERSION = "0.1.0";
export {
  Billgate,
  BillgateCustomer,
  BillgateError,
  BillgateItem,
  VERSION,
  backoffMs,
  graphql_exports as generated
};
