// Every GraphQL document the page sends, and nothing else: no DOM here, so
// `factview trusted-documents` can import this module (with node) and list them, byte for byte,
// in the trusted-documents manifest (app/web/trusted-documents.json), and
// tests/e2e/test_codegen.py can check them against schema.graphql with GraphQL Code Generator.

// The newest few transactions come with every view of an account (live too); older ones are
// read a page at a time, backwards from the oldest shown (keyset cursors: a late transaction
// never shifts a page already read).
const TX_PAGE = 10;
const TX_PAGE_FIELDS = `
  nodes { id kind amount occurredAt balanceAfter corrected }
  pageInfo { hasPreviousPage startCursor }`;

const ACCOUNT_FIELDS = `
  fragment AccountFields on Account {
    id currency status balance version updatedAt
    transactions(last: ${TX_PAGE}) { ${TX_PAGE_FIELDS} }
  }`;
const CUSTOMER_FIELDS = `
  fragment CustomerFields on Customer { id name email accounts { ...AccountFields } }`;

export const Q_CUSTOMERS = `query Customers { customers(first: 100) { nodes { id name } } }`;
export const Q_NAME = `query Name($id: ID!) { customer(id: $id) { id name } }`;
export const Q_CUSTOMER = `query Customer($id: ID!) { customer(id: $id) { ...CustomerFields } }
  ${CUSTOMER_FIELDS} ${ACCOUNT_FIELDS}`;
export const Q_ACCOUNT_AFTER = `query AccountAfter($id: ID!, $token: String!) {
  account(id: $id, consistencyToken: $token) { ...AccountFields } } ${ACCOUNT_FIELDS}`;
export const Q_OLDER = `query OlderTransactions($id: ID!, $before: String!) {
  account(id: $id) { id transactions(last: ${TX_PAGE}, before: $before) { ${TX_PAGE_FIELDS} } } }`;
export const S_CUSTOMER = `subscription CustomerUpdated($id: ID!) {
  customerUpdated(id: $id) { ...CustomerFields } } ${CUSTOMER_FIELDS} ${ACCOUNT_FIELDS}`;
export const S_ACCOUNT = `subscription AccountUpdated($id: ID!) {
  accountUpdated(id: $id) { ...AccountFields } } ${ACCOUNT_FIELDS}`;

// Operation names are unique across the page: codegen types each by its name.
function moveMutation(name, field, success) {
  return `mutation ${name}($accountId: ID!, $amount: Decimal!) {
    result: ${field}(accountId: $accountId, amount: $amount, waitForFold: true) {
      __typename
      ... on ${success} { amount balance folded consistencyToken account { ...AccountFields } }
      ... on UserError { message }
      ... on ValidationFailed { field }
    }
  } ${ACCOUNT_FIELDS}`;
}
export const M_DEPOSIT = moveMutation("Deposit", "deposit", "DepositSucceeded");
export const M_WITHDRAW = moveMutation("Withdraw", "withdraw", "WithdrawSucceeded");
