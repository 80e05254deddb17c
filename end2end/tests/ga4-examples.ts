/**
 * Google's own examples of GA4's recommended e-commerce events, as its
 * events reference gives them for gtag.js
 * (developers.google.com/analytics/devguides/collection/ga4/reference/events?client_type=gtag;
 * the "Measure ecommerce" guide uses the same objects, and its Tag Manager
 * version pushes them as `ecommerce`). Copied as published, in the order of
 * a shopping journey, with one change: the purchase's and the refund's
 * `transaction_id` get a suffix per test (see `examples`), because the server
 * counts a second purchase with a known transaction id as a duplicate.
 */

/** The item most examples carry. */
export const STAN_AND_FRIENDS_TEE = {
  item_id: "SKU_12345",
  item_name: "Stan and Friends Tee",
  affiliation: "Google Merchandise Store",
  coupon: "SUMMER_FUN",
  discount: 2.22,
  index: 0,
  item_brand: "Google",
  item_category: "Apparel",
  item_category2: "Adult",
  item_category3: "Shirts",
  item_category4: "Crew",
  item_category5: "Short sleeve",
  item_list_id: "related_products",
  item_list_name: "Related Products",
  item_variant: "green",
  location_id: "ChIJIQBpAG2ahYAR_6128GcTUEo",
  price: 10.01,
  google_business_vertical: "retail",
  quantity: 3,
};

/** The purchase example's second item. */
export const GREY_WOMENS_TEE = {
  item_id: "SKU_12346",
  item_name: "Google Grey Women's Tee",
  affiliation: "Google Merchandise Store",
  coupon: "SUMMER_FUN",
  discount: 3.33,
  index: 1,
  item_brand: "Google",
  item_category: "Apparel",
  item_category2: "Adult",
  item_category3: "Shirts",
  item_category4: "Crew",
  item_category5: "Short sleeve",
  item_list_id: "related_products",
  item_list_name: "Related Products",
  item_variant: "gray",
  location_id: "ChIJIQBpAG2ahYAR_6128GcTUEo",
  price: 21.01,
  promotion_id: "P_12345",
  promotion_name: "Summer Sale",
  google_business_vertical: "retail",
  quantity: 2,
};

/** The item of the promotion examples. */
export const PROMOTED_TEE = {
  item_id: "SKU_12345",
  item_name: "Stan and Friends Tee",
  affiliation: "Google Merchandise Store",
  coupon: "SUMMER_FUN",
  creative_name: "summer_banner2",
  creative_slot: "featured_app_1",
  discount: 2.22,
  index: 0,
  item_brand: "Google",
  item_category: "Apparel",
  item_category2: "Adult",
  item_category3: "Shirts",
  item_category4: "Crew",
  item_category5: "Short sleeve",
  item_list_id: "related_products",
  item_list_name: "Related Products",
  item_variant: "green",
  location_id: "ChIJIQBpAG2ahYAR_6128GcTUEo",
  price: 10.01,
  promotion_id: "P_12345",
  promotion_name: "Summer Sale",
  google_business_vertical: "retail",
  quantity: 3,
};

export type Example = { event: string; params: Record<string, unknown> };

/** Every recommended e-commerce event, with `suffix` on the transaction ids. */
export function examples(suffix: string): Example[] {
  const transaction_id = `T_12345${suffix}`;
  return [
    {
      event: "view_item_list",
      params: { item_list_id: "related_products", item_list_name: "Related products", items: [STAN_AND_FRIENDS_TEE] },
    },
    {
      event: "select_item",
      params: { item_list_id: "related_products", item_list_name: "Related products", items: [STAN_AND_FRIENDS_TEE] },
    },
    { event: "view_item", params: { currency: "USD", value: 30.03, items: [STAN_AND_FRIENDS_TEE] } },
    { event: "add_to_wishlist", params: { currency: "USD", value: 30.03, items: [STAN_AND_FRIENDS_TEE] } },
    { event: "add_to_cart", params: { currency: "USD", value: 30.03, items: [STAN_AND_FRIENDS_TEE] } },
    { event: "remove_from_cart", params: { currency: "USD", value: 30.03, items: [STAN_AND_FRIENDS_TEE] } },
    { event: "view_cart", params: { currency: "USD", value: 30.03, items: [STAN_AND_FRIENDS_TEE] } },
    {
      event: "begin_checkout",
      params: { currency: "USD", value: 30.03, coupon: "SUMMER_FUN", items: [STAN_AND_FRIENDS_TEE] },
    },
    {
      event: "add_shipping_info",
      params: { currency: "USD", value: 30.03, coupon: "SUMMER_FUN", shipping_tier: "Ground", items: [STAN_AND_FRIENDS_TEE] },
    },
    {
      event: "add_payment_info",
      params: {
        currency: "USD",
        value: 30.03,
        coupon: "SUMMER_FUN",
        payment_type: "Credit Card",
        items: [STAN_AND_FRIENDS_TEE],
      },
    },
    {
      event: "purchase",
      params: {
        transaction_id,
        // Sum of (price * quantity) for all items.
        value: 72.05,
        tax: 3.6,
        shipping: 5.99,
        currency: "USD",
        coupon: "SUMMER_SALE",
        customer_type: "new",
        items: [STAN_AND_FRIENDS_TEE, GREY_WOMENS_TEE],
      },
    },
    {
      event: "refund",
      params: {
        currency: "USD",
        transaction_id, // Transaction ID. Required for purchases and refunds.
        value: 30.03,
        coupon: "SUMMER_FUN",
        shipping: 3.33,
        tax: 1.11,
        items: [STAN_AND_FRIENDS_TEE],
      },
    },
    {
      event: "view_promotion",
      params: {
        creative_name: "Summer Banner",
        creative_slot: "featured_app_1",
        promotion_id: "P_12345",
        promotion_name: "Summer Sale",
        items: [PROMOTED_TEE],
      },
    },
    {
      event: "select_promotion",
      params: {
        creative_name: "Summer Banner",
        creative_slot: "featured_app_1",
        promotion_id: "P_12345",
        promotion_name: "Summer Sale",
        items: [PROMOTED_TEE],
      },
    },
    { event: "generate_lead", params: { currency: "USD", value: 30.03, lead_source: "Trade show" } },
  ];
}
