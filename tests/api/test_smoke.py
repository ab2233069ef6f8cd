async def test_products_of_the_example_catalog_are_listed(api, example_catalog):
    data = await api.data("{ products(first: 3) { edges { node { productId } } pageInfo { hasNextPage } } }")
    assert [e["node"]["productId"] for e in data["products"]["edges"]] == [
        "credit-pack", "enterprise", "extra-seats"]
    assert data["products"]["pageInfo"]["hasNextPage"] is True
