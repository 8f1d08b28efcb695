//! Word lists the simulated shop and its people are made of.

/// A category: its product nouns, price range in euros, and the categories
/// whose products go with its own.
pub(crate) type CategorySpec = (&'static str, &'static [&'static str], (u32, u32), &'static [&'static str]);

#[rustfmt::skip]
pub(crate) const CATEGORIES: &[CategorySpec] = &[
    ("shoes", &[
        "Sneakers", "Loafers", "Ankle Boots", "Sandals", "Ballet Flats", "Espadrilles",
        "Chelsea Boots", "Mules", "Brogues", "Slippers",
    ], (39, 189), &["bags", "accessories"]),
    ("bags", &[
        "Tote", "Crossbody Bag", "Backpack", "Clutch", "Weekender", "Bucket Bag", "Card Holder",
        "Satchel", "Belt Bag", "Wallet",
    ], (25, 229), &["shoes", "jewelry", "accessories"]),
    ("jewelry", &[
        "Hoop Earrings", "Pendant Necklace", "Signet Ring", "Charm Bracelet", "Stud Earrings",
        "Cuff", "Anklet", "Locket", "Stacking Rings", "Brooch",
    ], (15, 149), &["bags", "clothing", "beauty"]),
    ("clothing", &[
        "Linen Shirt", "Wrap Dress", "Cardigan", "Trench Coat", "Knit Sweater",
        "Wide-Leg Trousers", "Denim Jacket", "Pleated Skirt", "Hoodie", "Pyjama Set",
    ], (29, 199), &["shoes", "accessories", "jewelry"]),
    ("accessories", &[
        "Silk Scarf", "Sunglasses", "Leather Belt", "Beanie", "Gloves", "Hair Clip Set",
        "Umbrella", "Watch Strap", "Bucket Hat", "Keyring",
    ], (12, 89), &["clothing", "bags", "shoes"]),
    ("home", &[
        "Scented Candle", "Throw Blanket", "Ceramic Vase", "Cushion Cover", "Picture Frame",
        "Table Lamp", "Wall Print", "Planter", "Doormat", "Photo Album",
    ], (12, 129), &["kitchen", "stationery", "beauty"]),
    ("kitchen", &[
        "Espresso Cups", "Serving Board", "Teapot", "Mug Set", "Salad Bowl", "Linen Napkins",
        "Cake Stand", "Oil Bottle", "Apron", "Wine Glasses",
    ], (9, 89), &["home"]),
    ("beauty", &[
        "Hand Cream", "Lip Balm Trio", "Bath Salts", "Face Mist", "Eau de Parfum", "Soap Bar Set",
        "Body Oil", "Nail Polish Set", "Bath Robe", "Candle Gift Box",
    ], (8, 79), &["home", "jewelry"]),
    ("stationery", &[
        "Notebook", "Fountain Pen", "Greeting Cards", "Desk Planner", "Wrapping Paper",
        "Washi Tape Set", "Photo Journal", "Bookmarks", "Pencil Case", "Postcard Set",
    ], (5, 59), &["home", "kitchen"]),
];

/// Style words of product names.
#[rustfmt::skip]
pub(crate) const STYLES: &[&str] = &[
    "Classic", "Vintage", "Nordic", "Riviera", "Heritage", "Bohemian", "Minimal", "Studio",
    "Coastal", "Atelier", "Meadow", "Harbour", "Alpine", "Sunday", "Orchard", "Marais",
];

/// Colour words of product names.
#[rustfmt::skip]
pub(crate) const COLOURS: &[&str] = &[
    "Ivory", "Sage", "Terracotta", "Navy", "Blush", "Charcoal", "Ochre", "Olive", "Sand",
    "Midnight", "Coral", "Forest", "Cognac", "Lilac", "Pearl", "Rust",
];

#[rustfmt::skip]
pub(crate) const FIRST_NAMES: &[&str] = &[
    "Emma", "Liam", "Olivia", "Noah", "Sophie", "Lucas", "Mia", "Leon", "Chloe", "Hugo", "Alice",
    "Mateo", "Freya", "Oscar", "Clara", "Elias", "Isla", "Louis", "Nora", "Felix", "Julia",
    "Arthur", "Lena", "Theo", "Maya", "Jonas", "Ava", "Luca", "Ella", "Finn", "Zoe", "Samuel",
    "Ines", "Adam", "Hanna", "Omar", "Aisha", "Kenji", "Priya", "Diego", "Lucia", "Marta", "Pavel",
    "Agnes", "Tomas", "Yuki", "Amara", "Rosa", "Ivan", "Elena", "Nils", "Sara", "Ruben", "Grace",
    "Malik", "Anya", "Jack", "Lily", "Ben", "Eva",
];

#[rustfmt::skip]
pub(crate) const LAST_NAMES: &[&str] = &[
    "Smith", "Muller", "Martin", "Rossi", "Garcia", "Jansen", "Nowak", "Dubois", "Schmidt",
    "Brown", "Lopez", "Bernard", "Fischer", "Silva", "Costa", "Wilson", "Weber", "Moreau", "Ricci",
    "Novak", "Larsen", "Berg", "Murphy", "Kelly", "Tanaka", "Sato", "Patel", "Khan", "Nguyen",
    "Kim", "Walsh", "Meyer", "Wagner", "Ferrari", "Romano", "Petit", "Laurent", "Johansson",
    "Nielsen", "Kowalski", "Horvat", "Popescu", "Papadopoulos", "Cohen", "Haddad", "Okafor",
    "Mensah", "Santos", "Oliveira", "Taylor", "Evans", "Hughes", "Clarke", "Baker", "Stewart",
    "Reyes", "Moreno", "Vogel", "Becker", "Hofmann",
];
