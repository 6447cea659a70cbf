// Every GraphQL document the page sends, and nothing else: no DOM here, so
// `factview trusted-documents` can import this module (with node) and list them, byte for byte,
// in the trusted-documents manifest (app/web/trusted-documents.json).

// The API lists an account's transactions oldest first (forward paging only), so the page asks
// for one full page and shows the newest few of it.
const TX_PAGE = 100;

const ACCOUNT_FIELDS = `
  fragment AccountFields on Account {
    id currency status balance version updatedAt
    transactions(first: ${TX_PAGE}) {
      nodes { id kind amount occurredAt balanceAfter corrected }
    }
  }`;
const CUSTOMER_FIELDS = `
  fragment CustomerFields on Customer { id name email accounts { ...AccountFields } }`;

export const Q_CUSTOMERS = `query Customers { customers(first: 100) { nodes { id name } } }`;
export const Q_NAME = `query Name($id: ID!) { customer(id: $id) { id name } }`;
export const Q_CUSTOMER = `query Customer($id: ID!) { customer(id: $id) { ...CustomerFields } }
  ${CUSTOMER_FIELDS} ${ACCOUNT_FIELDS}`;
export const Q_ACCOUNT_AFTER = `query AccountAfter($id: ID!, $token: String!) {
  account(id: $id, consistencyToken: $token) { ...AccountFields } } ${ACCOUNT_FIELDS}`;
export const S_CUSTOMER = `subscription CustomerUpdated($id: ID!) {
  customerUpdated(id: $id) { ...CustomerFields } } ${CUSTOMER_FIELDS} ${ACCOUNT_FIELDS}`;
export const S_ACCOUNT = `subscription AccountUpdated($id: ID!) {
  accountUpdated(id: $id) { ...AccountFields } } ${ACCOUNT_FIELDS}`;

function moveMutation(field, success) {
  return `mutation Move($accountId: ID!, $amount: Decimal!) {
    result: ${field}(accountId: $accountId, amount: $amount, waitForFold: true) {
      __typename
      ... on ${success} { amount balance folded consistencyToken account { ...AccountFields } }
      ... on UserError { message }
      ... on ValidationFailed { field }
    }
  } ${ACCOUNT_FIELDS}`;
}
export const M_DEPOSIT = moveMutation("deposit", "DepositSucceeded");
export const M_WITHDRAW = moveMutation("withdraw", "WithdrawSucceeded");
