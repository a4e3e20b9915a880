"""A realistic, deterministic demo base: staff, customers, deals and their history.

``build_demo(ws)`` fills an empty workspace with what a small textile trading house
working across South Asia, Russia, Europe and the US accumulates in a few years:
staff users, ~200 companies, ~1,000 contacts, ~600 deals in every stage of the
"Sales" pipeline with their stage history, activities (done, overdue, due today,
upcoming), interactions over 18 months, tags, campaigns, segments and custom fields.

Names, cities and addresses are written in the scripts their owners use (Urdu and
Sindhi in Arabic script, Tamil, Bengali, Sinhala, Cyrillic, Latin with accents), phone
numbers are valid for their country and stored in E.164, amounts are in the local
currency. The same ``seed`` and ``today`` always give the same data, so demos,
screenshots and tests can rely on it.

The rows are written through the ORM in one transaction with explicit past
timestamps: the public services stamp "now" and open one transaction per call, which
is both wrong for history and too slow for thousands of rows. The journal listener
still runs on every flush, so search terms and the audit trail are complete.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from decimal import Decimal
from itertools import accumulate
from typing import TYPE_CHECKING, Any

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_core import text
from crm_core import validation as v
from crm_core.errors import CrmError
from crm_core.models import (
    Activity,
    Campaign,
    CampaignMember,
    Company,
    Contact,
    CustomFieldDefinition,
    Interaction,
    Invoice,
    LostReason,
    Opportunity,
    Pipeline,
    Segment,
    Stage,
    StageChange,
    Tag,
    User,
)
from crm_core.passwords import hash_password
from crm_core.periods import add_months
from crm_core.services.custom_fields import clean_custom_value

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

Progress = Callable[[str], None]
Pair = tuple[str, str]  # (as written locally, in Latin letters)

N_COMPANIES = 200
N_CONTACTS = 1000
N_OPPORTUNITIES = 600
N_ACTIVITIES = 1500
N_INTERACTIONS = 4000
HISTORY_DAYS = 548  # 18 months: how far back deals and interactions go

# Open activities by due date; the rest of N_ACTIVITIES are done.
N_OVERDUE = 230
N_DUE_TODAY = 70
N_UPCOMING = 300

# Demo addresses live under example.com (reserved by RFC 2606), so a demo can never
# e-mail a real person; the same goes for websites.
DEMO_DOMAIN = "example.com"


# -- reference data -------------------------------------------------------------------


@dataclass(frozen=True)
class _Country:
    """What depends on the country: currency, phone and tax-number formats, deal sizes."""

    code: str
    currency: str
    mobiles: tuple[str, ...]  # patterns: # digit, @ letter, [..] one of
    vat: str


@dataclass(frozen=True)
class _City:
    name: Pair
    zip: str  # pattern
    landlines: tuple[str, ...]  # patterns; empty: companies give a mobile number
    state: Pair | None = None


@dataclass(frozen=True)
class _Locale:
    """A naming culture in one country: how people, companies and places are written."""

    key: str
    country: str
    language: str
    weight: int  # share of the customer base
    native_share: float  # how often a record is written in the local script, not Latin
    male: tuple[Pair, ...]
    female: tuple[Pair, ...]
    surnames: tuple[Pair, ...]
    cities: tuple[_City, ...]
    streets: tuple[Pair, ...]  # with {n}
    company_formats: tuple[Pair, ...]  # with {root} and {kind}
    roots: tuple[Pair, ...]
    kinds: tuple[Pair, ...] = (("", ""),)
    female_surnames: tuple[Pair, ...] = ()
    slavic: bool = False  # women's surnames take the feminine ending (Петров -> Петрова)
    titles: tuple[str, ...] = ()  # job titles in the local language, when written natively
    phrases: tuple[str, ...] = ()  # short messages in the local language


def _latin(names: str) -> tuple[Pair, ...]:
    """Pairs for Latin-script locales, where the local spelling is the Latin one.

    ``names`` are separated by ``|`` (names and addresses contain spaces and commas).
    """
    return tuple((n, n) for n in names.split("|"))


COUNTRIES = {
    c.code: c
    for c in (
        _Country("PK", "PKR", ("+923[0-4]########",), "#######-#"),
        _Country("IN", "INR", ("+91[6-9]#########",), "##@@@@@####@1Z#"),
        _Country("BD", "BDT", ("+8801[3-9]########",), "000######-####"),
        _Country("LK", "LKR", ("+947[0-8]#######",), "#########-7000"),
        _Country("RU", "RUB", ("+79#########",), "##########"),
        _Country("DE", "EUR", ("+4915[12579]########", "+4917[0-9]#######"), "DE#########"),
        _Country("FR", "EUR", ("+33[67]########",), "FR###########"),
        _Country("ES", "EUR", ("+346########",), "ESB########"),
        _Country("GB", "GBP", ("+447[4-9]########",), "GB#########"),
        # US numbers come from 555-0100..0199, the range kept for fiction.
        _Country(
            "US",
            "USD",
            ("+121255501##", "+164655501##", "+131255501##", "+140455501##"),
            "##-#######",
        ),
    )
}

_EN_TITLES = (
    "Owner",
    "Managing Director",
    "CEO",
    "Purchase Manager",
    "Head of Sourcing",
    "Merchandiser",
    "Sales Manager",
    "Accounts Manager",
    "Production Manager",
    "Quality Manager",
    "Buyer",
    "Export Manager",
    "Logistics Coordinator",
)

LOCALES: tuple[_Locale, ...] = (
    _Locale(
        key="ur",
        country="PK",
        language="ur",
        weight=40,
        native_share=0.6,
        male=(
            ("محمد", "Muhammad"),
            ("عمران", "Imran"),
            ("علی", "Ali"),
            ("احمد", "Ahmed"),
            ("بلال", "Bilal"),
            ("فیصل", "Faisal"),
            ("عثمان", "Usman"),
            ("حسن", "Hassan"),
            ("زاہد", "Zahid"),
            ("طارق", "Tariq"),
            ("کامران", "Kamran"),
            ("شاہد", "Shahid"),
            ("ندیم", "Nadeem"),
            ("عرفان", "Irfan"),
            ("ساجد", "Sajid"),
            ("وقاص", "Waqas"),
            ("آصف", "Asif"),
            ("جاوید", "Javed"),
        ),
        female=(
            ("عائشہ", "Ayesha"),
            ("فاطمہ", "Fatima"),
            ("زینب", "Zainab"),
            ("مریم", "Maryam"),
            ("سارہ", "Sara"),
            ("حنا", "Hina"),
            ("صبا", "Saba"),
            ("نادیہ", "Nadia"),
            ("رابعہ", "Rabia"),
            ("ثنا", "Sana"),
            ("کرن", "Kiran"),
        ),
        surnames=(
            ("خان", "Khan"),
            ("ملک", "Malik"),
            ("چوہدری", "Chaudhry"),
            ("شیخ", "Sheikh"),
            ("قریشی", "Qureshi"),
            ("بٹ", "Butt"),
            ("اعوان", "Awan"),
            ("راجپوت", "Rajput"),
            ("صدیقی", "Siddiqui"),
            ("مرزا", "Mirza"),
            ("ہاشمی", "Hashmi"),
            ("انصاری", "Ansari"),
            ("بخاری", "Bukhari"),
            ("رضوی", "Rizvi"),
        ),
        cities=(
            _City(("کراچی", "Karachi"), "75#00", ("+9221########",), ("سندھ", "Sindh")),
            _City(("لاہور", "Lahore"), "54#00", ("+9242########",), ("پنجاب", "Punjab")),
            _City(("فیصل آباد", "Faisalabad"), "38000", ("+9241#######",), ("پنجاب", "Punjab")),
            _City(("سیالکوٹ", "Sialkot"), "51310", ("+9252#######",), ("پنجاب", "Punjab")),
            _City(("ملتان", "Multan"), "60000", ("+9261#######",), ("پنجاب", "Punjab")),
            _City(("اسلام آباد", "Islamabad"), "44000", ("+9251#######",)),
        ),
        streets=(
            ("پلاٹ {n}، انڈسٹریل اسٹیٹ", "Plot {n}, Industrial Estate"),
            ("دکان {n}، کلاتھ مارکیٹ", "Shop {n}, Cloth Market"),
            ("دفتر {n}، ٹیکسٹائل پلازہ", "Office {n}, Textile Plaza"),
        ),
        company_formats=(("{root} {kind}", "{root} {kind}"),),
        roots=(
            ("نور", "Noor"),
            ("مدینہ", "Madina"),
            ("الرحمان", "Al-Rehman"),
            ("شاہین", "Shaheen"),
            ("ہلال", "Hilal"),
            ("زم زم", "Zam Zam"),
            ("راوی", "Ravi"),
            ("فیصل", "Faisal"),
            ("حاجی یوسف", "Haji Yousuf"),
            ("کوہ نور", "Koh-i-Noor"),
            ("امین", "Amin"),
            ("غوثیہ", "Ghousia"),
        ),
        kinds=(
            ("ٹیکسٹائل ملز", "Textile Mills"),
            ("کلاتھ ہاؤس", "Cloth House"),
            ("کاٹن ٹریڈرز", "Cotton Traders"),
            ("فیبرکس", "Fabrics"),
            ("گارمنٹس", "Garments"),
            ("ہوزری", "Hosiery"),
            ("اینڈ سنز", "& Sons"),
            ("ٹیکسٹائل ملز (پرائیویٹ) لمیٹڈ", "Textile Mills (Pvt.) Ltd."),
        ),
        phrases=(
            "ریٹ لسٹ بھیج دیں",
            "کل تک نمونے بھیج دیں گے",
            "ادائیگی اگلے ہفتے ہو جائے گی",
            "مال روانہ ہو گیا ہے",
        ),
    ),
    _Locale(
        key="sd",
        country="PK",
        language="sd",
        weight=10,
        native_share=0.75,
        male=(
            ("علي", "Ali"),
            ("غلام رسول", "Ghulam Rasool"),
            ("عبدالله", "Abdullah"),
            ("ڪمال", "Kamal"),
            ("نور محمد", "Noor Muhammad"),
            ("لطيف", "Latif"),
            ("سچل", "Sachal"),
            ("امداد", "Imdad"),
            ("ذوالفقار", "Zulfiqar"),
        ),
        female=(
            ("ماروي", "Marvi"),
            ("سسئي", "Sassui"),
            ("شمع", "Shama"),
            ("زينت", "Zeenat"),
            ("سڪينه", "Sakina"),
            ("روبينه", "Rubina"),
        ),
        surnames=(
            ("ڀٽو", "Bhutto"),
            ("ميمڻ", "Memon"),
            ("سومرو", "Soomro"),
            ("جتوئي", "Jatoi"),
            ("ڀٽي", "Bhatti"),
            ("ٽالپر", "Talpur"),
            ("مهر", "Mahar"),
            ("لغاري", "Leghari"),
            ("چانڊيو", "Chandio"),
            ("کوسو", "Khoso"),
        ),
        cities=(
            _City(("حيدرآباد", "Hyderabad"), "71000", ("+9222#######",), ("سنڌ", "Sindh")),
            _City(("سکر", "Sukkur"), "65200", ("+9271#######",), ("سنڌ", "Sindh")),
            _City(("لاڙڪاڻو", "Larkana"), "77150", ("+9274#######",), ("سنڌ", "Sindh")),
            _City(("ڪراچي", "Karachi"), "75#00", ("+9221########",), ("سنڌ", "Sindh")),
        ),
        streets=(
            ("دڪان {n}، شاهي بازار", "Shop {n}, Shahi Bazar"),
            ("پلاٽ {n}، سائيٽ ايريا", "Plot {n}, SITE Area"),
        ),
        company_formats=(("{root} {kind}", "{root} {kind}"),),
        roots=(
            ("سنڌ", "Sindh"),
            ("مهراڻ", "Mehran"),
            ("ڀٽ شاهه", "Bhit Shah"),
            ("لطيف", "Latif"),
            ("ٿر", "Thar"),
        ),
        kinds=(
            ("ڪاٽن", "Cotton"),
            ("ٽيڪسٽائل", "Textile"),
            ("اجرڪ هائوس", "Ajrak House"),
            ("رلي سينٽر", "Ralli Centre"),
        ),
    ),
    _Locale(
        key="ta",
        country="IN",
        language="ta",
        weight=18,
        native_share=0.7,
        male=(
            ("முருகன்", "Murugan"),
            ("கார்த்திக்", "Karthik"),
            ("ராஜேஷ்", "Rajesh"),
            ("சுரேஷ்", "Suresh"),
            ("அருண்", "Arun"),
            ("பாலாஜி", "Balaji"),
            ("விஜய்", "Vijay"),
            ("சரவணன்", "Saravanan"),
            ("கணேஷ்", "Ganesh"),
            ("செந்தில்", "Senthil"),
            ("மணிகண்டன்", "Manikandan"),
        ),
        female=(
            ("லட்சுமி", "Lakshmi"),
            ("பிரியா", "Priya"),
            ("மீனா", "Meena"),
            ("கவிதா", "Kavitha"),
            ("தேவி", "Devi"),
            ("அனிதா", "Anitha"),
            ("செல்வி", "Selvi"),
            ("காயத்ரி", "Gayathri"),
        ),
        surnames=(
            ("செல்வம்", "Selvam"),
            ("சுப்பிரமணியம்", "Subramaniam"),
            ("ராமசாமி", "Ramasamy"),
            ("கிருஷ்ணன்", "Krishnan"),
            ("வேலு", "Velu"),
            ("பாண்டியன்", "Pandian"),
            ("நடராஜன்", "Natarajan"),
            ("சுந்தரம்", "Sundaram"),
            ("ராஜேந்திரன்", "Rajendran"),
            ("குமார்", "Kumar"),
        ),
        cities=(
            _City(("சென்னை", "Chennai"), "600###", ("+9144########",), ("தமிழ்நாடு", "Tamil Nadu")),
            _City(
                ("கோயம்புத்தூர்", "Coimbatore"),
                "641###",
                ("+91422#######",),
                ("தமிழ்நாடு", "Tamil Nadu"),
            ),
            _City(
                ("திருப்பூர்", "Tiruppur"), "6416##", ("+91421#######",), ("தமிழ்நாடு", "Tamil Nadu")
            ),
            _City(("ஈரோடு", "Erode"), "638###", ("+91424#######",), ("தமிழ்நாடு", "Tamil Nadu")),
            _City(("மதுரை", "Madurai"), "625###", ("+91452#######",), ("தமிழ்நாடு", "Tamil Nadu")),
        ),
        streets=(
            ("{n}, காமராஜர் சாலை", "{n}, Kamarajar Road"),
            ("{n}, பெரியார் நகர்", "{n}, Periyar Nagar"),
            ("{n}, அவிநாசி சாலை", "{n}, Avinashi Road"),
        ),
        company_formats=(("{root} {kind}", "{root} {kind}"),),
        roots=(
            ("முருகன்", "Murugan"),
            ("ஸ்ரீ லட்சுமி", "Sri Lakshmi"),
            ("காவேரி", "Kaveri"),
            ("வேலவன்", "Velavan"),
            ("அண்ணாமலை", "Annamalai"),
            ("பாண்டியன்", "Pandian"),
            ("தங்கம்", "Thangam"),
        ),
        kinds=(
            ("டெக்ஸ்டைல்ஸ்", "Textiles"),
            ("நிட்வேர்ஸ்", "Knitwears"),
            ("ஸ்பின்னிங் மில்ஸ்", "Spinning Mills"),
            ("சில்க்ஸ்", "Silks"),
            ("கார்மெண்ட்ஸ்", "Garments"),
            ("டெக்ஸ்டைல்ஸ் பிரைவேட் லிமிடெட்", "Textiles Pvt. Ltd."),
        ),
        phrases=("மாதிரிகள் அனுப்பப்பட்டன", "விலைப்பட்டியல் அனுப்பவும்"),
    ),
    _Locale(
        key="hi",
        country="IN",
        language="hi",
        weight=22,
        native_share=1.0,
        male=_latin("Rahul|Amit|Vikram|Sanjay|Rohit|Arjun|Deepak|Manoj|Nitin|Anil|Vivek"),
        female=_latin("Priya|Sunita|Anjali|Neha|Pooja|Kavita|Ritu|Swati|Meera|Divya"),
        surnames=_latin(
            "Sharma|Gupta|Patel|Verma|Singh|Mehta|Agarwal|Jain|Kapoor|Malhotra|Joshi|Yadav|Bansal"
        ),
        cities=(
            _City(
                ("Mumbai", "Mumbai"), "4000##", ("+9122########",), ("Maharashtra", "Maharashtra")
            ),
            _City(("New Delhi", "New Delhi"), "1100##", ("+9111########",), ("Delhi", "Delhi")),
            _City(("Surat", "Surat"), "3950##", ("+91261#######",), ("Gujarat", "Gujarat")),
            _City(("Ludhiana", "Ludhiana"), "1410##", ("+91161#######",), ("Punjab", "Punjab")),
            _City(("Ahmedabad", "Ahmedabad"), "3800##", ("+9179########",), ("Gujarat", "Gujarat")),
            _City(("Panipat", "Panipat"), "1321##", ("+91180#######",), ("Haryana", "Haryana")),
        ),
        streets=_latin("{n}, MG Road|Shop {n}, Kapda Bazaar|Plot {n}, GIDC Estate|{n}, Ring Road"),
        company_formats=(("{root} {kind}", "{root} {kind}"),),
        roots=_latin("Shree Ganesh|Laxmi|Bharat|Mahalaxmi|Krishna|Ganga|Navrang|Om Sai|Shubh"),
        kinds=_latin(
            "Textiles|Silk Mills|Fabrics|Synthetics|Creations|Exports Pvt. Ltd.|Handlooms"
            "|Dyeing & Printing"
        ),
    ),
    _Locale(
        key="bn",
        country="BD",
        language="bn",
        weight=30,
        native_share=0.75,
        male=(
            ("আব্দুল", "Abdul"),
            ("রহিম", "Rahim"),
            ("মোহাম্মদ", "Mohammad"),
            ("সাকিব", "Sakib"),
            ("তানভীর", "Tanvir"),
            ("রাশেদ", "Rashed"),
            ("মাহমুদ", "Mahmud"),
            ("আরিফ", "Arif"),
            ("জাহিদ", "Zahid"),
            ("ইমরান", "Imran"),
            ("শফিকুল", "Shafiqul"),
            ("সুমন", "Sumon"),
        ),
        female=(
            ("ফারহানা", "Farhana"),
            ("নুসরাত", "Nusrat"),
            ("তাসলিমা", "Taslima"),
            ("শারমিন", "Sharmin"),
            ("রুমানা", "Rumana"),
            ("সাবরিনা", "Sabrina"),
            ("নাসরিন", "Nasrin"),
        ),
        surnames=(
            ("করিম", "Karim"),
            ("রহমান", "Rahman"),
            ("হোসেন", "Hossain"),
            ("ইসলাম", "Islam"),
            ("আহমেদ", "Ahmed"),
            ("চৌধুরী", "Chowdhury"),
            ("খান", "Khan"),
            ("সরকার", "Sarkar"),
            ("উদ্দিন", "Uddin"),
            ("হক", "Haque"),
            ("তালুকদার", "Talukder"),
        ),
        female_surnames=(("আক্তার", "Akter"), ("বেগম", "Begum"), ("খাতুন", "Khatun")),
        cities=(
            _City(("ঢাকা", "Dhaka"), "12##", ("+88029######",), ("ঢাকা বিভাগ", "Dhaka Division")),
            _City(
                ("চট্টগ্রাম", "Chattogram"),
                "4###",
                ("+88031######",),
                ("চট্টগ্রাম বিভাগ", "Chattogram Division"),
            ),
            _City(("নারায়ণগঞ্জ", "Narayanganj"), "14##", (), ("ঢাকা বিভাগ", "Dhaka Division")),
            _City(("গাজীপুর", "Gazipur"), "17##", (), ("ঢাকা বিভাগ", "Dhaka Division")),
            _City(("সাভার", "Savar"), "1340", (), ("ঢাকা বিভাগ", "Dhaka Division")),
        ),
        streets=(
            ("বাড়ি {n}, গুলশান এভিনিউ", "House {n}, Gulshan Avenue"),
            ("প্লট {n}, বিসিক শিল্প নগরী", "Plot {n}, BSCIC Industrial Estate"),
            ("{n} ডিআইটি রোড", "{n} DIT Road"),
        ),
        company_formats=(("{root} {kind}", "{root} {kind}"),),
        roots=(
            ("রহমান", "Rahman"),
            ("পদ্মা", "Padma"),
            ("মেঘনা", "Meghna"),
            ("যমুনা", "Jamuna"),
            ("সোনার বাংলা", "Sonar Bangla"),
            ("রূপসী", "Rupshi"),
            ("আল-আমিন", "Al-Amin"),
            ("সবুজ", "Sabuj"),
        ),
        kinds=(
            ("গার্মেন্টস", "Garments"),
            ("নিটওয়্যার", "Knitwear"),
            ("টেক্সটাইল মিলস", "Textile Mills"),
            ("ফ্যাশনস", "Fashions"),
            ("অ্যাপারেলস লিমিটেড", "Apparels Ltd."),
            ("ডাইং লিমিটেড", "Dyeing Ltd."),
        ),
        phrases=("নমুনা পাঠানো হয়েছে", "দাম আরেকটু কমানো যায়?", "শিপমেন্ট আগামী সপ্তাহে"),
    ),
    _Locale(
        key="si",
        country="LK",
        language="si",
        weight=10,
        native_share=0.4,
        male=(
            ("නිමල්", "Nimal"),
            ("සුනිල්", "Sunil"),
            ("කමල්", "Kamal"),
            ("රුවන්", "Ruwan"),
            ("චමින්ද", "Chaminda"),
            ("ලසිත්", "Lasith"),
            ("දිනේෂ්", "Dinesh"),
            ("සමන්", "Saman"),
        ),
        female=(
            ("චමරි", "Chamari"),
            ("සඳුනි", "Sanduni"),
            ("ඉෂාරා", "Ishara"),
            ("කුමාරි", "Kumari"),
            ("නදීකා", "Nadeeka"),
            ("දිල්හානි", "Dilhani"),
        ),
        surnames=(
            ("පෙරේරා", "Perera"),
            ("සිල්වා", "Silva"),
            ("ජයසූරිය", "Jayasuriya"),
            ("බණ්ඩාර", "Bandara"),
            ("විජේසිංහ", "Wijesinghe"),
            ("ගුණවර්ධන", "Gunawardena"),
            ("හේරත්", "Herath"),
            ("කුමාරසිංහ", "Kumarasinghe"),
            ("රත්නායක", "Rathnayake"),
        ),
        cities=(
            _City(
                ("කොළඹ", "Colombo"), "00#00", ("+9411#######",), ("බස්නාහිර පළාත", "Western Province")
            ),
            _City(
                ("මහනුවර", "Kandy"),
                "20000",
                ("+9481#######",),
                ("Central Province", "Central Province"),
            ),
            _City(("ගාල්ල", "Galle"), "80000", ("+9491#######",), ("දකුණු පළාත", "Southern Province")),
            _City(
                ("මීගමුව", "Negombo"), "11500", ("+9431#######",), ("බස්නාහිර පළාත", "Western Province")
            ),
            _City(("කටුනායක", "Katunayake"), "11450", (), ("බස්නාහිර පළාත", "Western Province")),
        ),
        streets=(
            ("{n}, ගාලු පාර", "{n}, Galle Road"),
            ("{n}, මහනුවර පාර", "{n}, Kandy Road"),
            ("{n}, මහ වීදිය", "{n}, Main Street"),
        ),
        company_formats=(("{root} {kind}", "{root} {kind}"),),
        roots=(
            ("ලංකා", "Lanka"),
            ("රුවන්", "Ruwan"),
            ("සිරි", "Siri"),
            ("කැලණි", "Kelani"),
            ("මහවැලි", "Mahaweli"),
        ),
        kinds=(
            ("රෙදිපිළි", "Textiles"),
            ("ඇඟලුම්", "Garments"),
            ("බතික්", "Batiks"),
            ("ඇඟලුම් (පුද්) සමාගම", "Apparel (Pvt) Ltd"),
        ),
    ),
    _Locale(
        key="ru",
        country="RU",
        language="ru",
        weight=22,
        native_share=0.9,
        male=(
            ("Иван", "Ivan"),
            ("Алексей", "Aleksey"),
            ("Дмитрий", "Dmitry"),
            ("Сергей", "Sergey"),
            ("Андрей", "Andrey"),
            ("Михаил", "Mikhail"),
            ("Николай", "Nikolay"),
            ("Павел", "Pavel"),
            ("Артём", "Artyom"),
            ("Владимир", "Vladimir"),
            ("Евгений", "Evgeny"),
        ),
        female=(
            ("Ольга", "Olga"),
            ("Елена", "Elena"),
            ("Татьяна", "Tatyana"),
            ("Наталья", "Natalya"),
            ("Анна", "Anna"),
            ("Мария", "Maria"),
            ("Ирина", "Irina"),
            ("Светлана", "Svetlana"),
            ("Юлия", "Yulia"),
        ),
        # Only -ов/-ев/-ин surnames: their feminine form is regular (see ``slavic``).
        surnames=(
            ("Петров", "Petrov"),
            ("Смирнов", "Smirnov"),
            ("Кузнецов", "Kuznetsov"),
            ("Попов", "Popov"),
            ("Соколов", "Sokolov"),
            ("Лебедев", "Lebedev"),
            ("Козлов", "Kozlov"),
            ("Новиков", "Novikov"),
            ("Морозов", "Morozov"),
            ("Волков", "Volkov"),
            ("Фёдоров", "Fyodorov"),
            ("Васильев", "Vasilyev"),
            ("Зайцев", "Zaitsev"),
            ("Семёнов", "Semyonov"),
            ("Ильин", "Ilyin"),
        ),
        slavic=True,
        cities=(
            _City(("Москва", "Moscow"), "1[0-2]####", ("+7495#######", "+7499#######")),
            _City(("Санкт-Петербург", "Saint Petersburg"), "19####", ("+7812#######",)),
            _City(
                ("Иваново", "Ivanovo"),
                "1530##",
                ("+74932######",),
                ("Ивановская область", "Ivanovo Oblast"),
            ),
            _City(
                ("Казань", "Kazan"),
                "4200##",
                ("+7843#######",),
                ("Республика Татарстан", "Tatarstan"),
            ),
            _City(
                ("Екатеринбург", "Yekaterinburg"),
                "6200##",
                ("+7343#######",),
                ("Свердловская область", "Sverdlovsk Oblast"),
            ),
            _City(
                ("Новосибирск", "Novosibirsk"),
                "6300##",
                ("+7383#######",),
                ("Новосибирская область", "Novosibirsk Oblast"),
            ),
        ),
        streets=(
            ("ул. Ленина, д. {n}", "ul. Lenina, {n}"),
            ("пр. Мира, д. {n}", "pr. Mira, {n}"),
            ("ул. Садовая, д. {n}", "ul. Sadovaya, {n}"),
            ("ул. Текстильщиков, д. {n}", "ul. Tekstilshchikov, {n}"),
        ),
        company_formats=(
            ("ООО «{root}»", "{root} LLC"),
            ("АО «{root}»", "{root} JSC"),
            ("ТД «{root}»", "{root} Trading House"),
        ),
        roots=(
            ("Текстиль-Центр", "Tekstil-Tsentr"),
            ("Ивтекс", "Ivteks"),
            ("Русский лён", "Russky Lyon"),
            ("Волжская мануфактура", "Volzhskaya Manufaktura"),
            ("Северный трикотаж", "Severny Trikotazh"),
            ("Шёлковый путь", "Shyolkovy Put"),
            ("Ткани Востока", "Tkani Vostoka"),
            ("Пряжа Плюс", "Pryazha Plus"),
            ("Мир тканей", "Mir Tkaney"),
            ("Ивановские ситцы", "Ivanovskie Sittsy"),
            ("Уралтекс", "Uralteks"),
            ("Домашний уют", "Domashny Uyut"),
            ("Лён и хлопок", "Lyon i Khlopok"),
            ("Сибирская пряжа", "Sibirskaya Pryazha"),
            ("Невская нить", "Nevskaya Nit"),
            ("Казанский трикотаж", "Kazansky Trikotazh"),
        ),
        titles=(
            "Генеральный директор",
            "Коммерческий директор",
            "Менеджер по закупкам",
            "Главный бухгалтер",
            "Руководитель отдела продаж",
            "Технолог",
        ),
        phrases=("Отправил образцы", "Счёт на оплату во вложении", "Когда отгрузка?"),
    ),
    _Locale(
        key="de",
        country="DE",
        language="de",
        weight=12,
        native_share=1.0,
        male=_latin("Jürgen|Stefan|Thomas|Michael|Lukas|Björn|Sören|Jörg|Günter|Florian"),
        female=_latin("Sabine|Anna|Petra|Claudia|Ulrike|Heike|Lea|Jana|Katrin|Gülşen"),
        surnames=_latin(
            "Müller|Schmidt|Schneider|Fischer|Weber|Wagner|Becker|Hoffmann|Schäfer|Koch"
            "|Richter|Schröder|Krüger|Weiß|Groß|Keßler|Jäger|Köhler"
        ),
        cities=(
            _City(("München", "Muenchen"), "80###", ("+4989#######",), ("Bayern", "Bayern")),
            _City(
                ("Köln", "Koeln"),
                "50###",
                ("+49221#######",),
                ("Nordrhein-Westfalen", "Nordrhein-Westfalen"),
            ),
            _City(
                ("Düsseldorf", "Duesseldorf"),
                "40###",
                ("+49211#######",),
                ("Nordrhein-Westfalen", "Nordrhein-Westfalen"),
            ),
            _City(("Berlin", "Berlin"), "10###", ("+4930########",), ("Berlin", "Berlin")),
            _City(("Hamburg", "Hamburg"), "20###", ("+4940########",), ("Hamburg", "Hamburg")),
            _City(
                ("Mönchengladbach", "Moenchengladbach"),
                "41###",
                ("+492161######",),
                ("Nordrhein-Westfalen", "Nordrhein-Westfalen"),
            ),
            _City(("Nürnberg", "Nuernberg"), "90###", ("+49911#######",), ("Bayern", "Bayern")),
        ),
        streets=_latin(
            "Hauptstraße {n}|Bahnhofstraße {n}|Königsallee {n}|Industriestraße {n}|Weberstraße {n}"
        ),
        company_formats=_latin(
            "{root} Textil GmbH|{root} Stoffe GmbH & Co. KG|Weberei {root} GmbH"
            "|{root} Heimtextilien KG|{root} Großhandel GmbH"
        ),
        roots=_latin("Müller|Weiß|Schäfer|Becker|Krüger|Groß|Köhler|Rheinland|Alpen|Nordsee"),
    ),
    _Locale(
        key="fr",
        country="FR",
        language="fr",
        weight=9,
        native_share=1.0,
        male=_latin("François|Jérôme|Benoît|Noël|Sébastien|Thierry|Olivier|Rémi|Loïc|Étienne"),
        female=_latin("Hélène|Anaïs|Céline|Émilie|Gaëlle|Maëlle|Chloé|Isabelle|Zoé"),
        surnames=_latin(
            "Lefèvre|Dubois|Martin|Moreau|Laurent|Girard|Rousseau|Fournier|Bonnet|Mercier"
            "|Faure|Chevalier|Lemaître|Duchêne"
        ),
        cities=(
            # Paris numbers come from 01 99 00 xx xx, kept for fiction.
            _City(
                ("Paris", "Paris"), "750##", ("+3319900####",), ("Île-de-France", "Ile-de-France")
            ),
            _City(
                ("Lyon", "Lyon"),
                "6900#",
                ("+3347#######",),
                ("Auvergne-Rhône-Alpes", "Auvergne-Rhone-Alpes"),
            ),
            _City(
                ("Lille", "Lille"),
                "59000",
                ("+3332#######",),
                ("Hauts-de-France", "Hauts-de-France"),
            ),
            _City(
                ("Roubaix", "Roubaix"),
                "59100",
                ("+3332#######",),
                ("Hauts-de-France", "Hauts-de-France"),
            ),
            _City(
                ("Saint-Étienne", "Saint-Etienne"),
                "42000",
                ("+3347#######",),
                ("Auvergne-Rhône-Alpes", "Auvergne-Rhone-Alpes"),
            ),
            _City(
                ("Nantes", "Nantes"),
                "44000",
                ("+3324#######",),
                ("Pays de la Loire", "Pays de la Loire"),
            ),
        ),
        streets=_latin(
            "{n} rue de la République|{n} boulevard Haussmann|{n} avenue Jean-Jaurès"
            "|{n} rue du Faubourg Saint-Honoré|{n} quai Saint-Antoine"
        ),
        company_formats=_latin(
            "Textiles {root} SARL|Tissages {root} et Fils|Maison {root}|Filature {root} SA"
            "|{root} Linge de Maison SAS"
        ),
        roots=_latin("Lefèvre|Dubois|Mercier|Rousseau|Bonnet|Girard|Faure|Chevalier|Lemaître"),
    ),
    _Locale(
        key="gb",
        country="GB",
        language="en",
        weight=9,
        native_share=1.0,
        male=_latin("Oliver|Harry|George|Rhys|Callum|Mohammed|Daniel|Thomas|Liam"),
        female=_latin("Emily|Charlotte|Siobhan|Aoife|Eilidh|Priya|Sophie|Amelia|Niamh"),
        surnames=_latin(
            "Smith|Jones|Taylor|Brown|Wilson|Evans|Davies|Clarke|O'Brien|Patel|Hussain"
            "|MacDonald|Thompson|Hughes"
        ),
        cities=(
            # London numbers come from 020 7946 0xxx, kept by Ofcom for drama.
            _City(("London", "London"), "E# #@@", ("+442079460###",), ("England", "England")),
            _City(
                ("Manchester", "Manchester"), "M# #@@", ("+44161#######",), ("England", "England")
            ),
            _City(
                ("Leicester", "Leicester"), "LE# #@@", ("+44116#######",), ("England", "England")
            ),
            _City(("Bradford", "Bradford"), "BD# #@@", ("+441274######",), ("England", "England")),
            _City(("Glasgow", "Glasgow"), "G# #@@", ("+44141#######",), ("Scotland", "Scotland")),
        ),
        streets=_latin(
            "{n} High Street|{n} Deansgate|Unit {n}, Canal Street Mills|{n} Commercial Street"
        ),
        company_formats=_latin(
            "{root} Textiles Ltd|{root} & Sons Ltd|{root} Fabrics Ltd|{root} Linen Company"
            "|{root} Mills plc"
        ),
        roots=_latin(
            "Pennine|Harrington|Whitworth|Calder|Thornbury|Ashdown|Kingsley|Brompton|Mersey"
        ),
    ),
    _Locale(
        key="es",
        country="ES",
        language="es",
        weight=6,
        native_share=1.0,
        male=_latin("José|Álvaro|Íñigo|Sergio|Javier|Jordi|Pablo|Andrés|Raúl"),
        female=_latin("María|Lucía|Núria|Begoña|Carmen|Marta|Inés|Ainhoa"),
        surnames=_latin(
            "García|Martínez|Fernández|López|Muñoz|Ibáñez|Núñez|Sánchez|Peña|Castaño|Puig"
            "|Etxeberria"
        ),
        cities=(
            _City(
                ("Madrid", "Madrid"),
                "280##",
                ("+3491#######",),
                ("Comunidad de Madrid", "Comunidad de Madrid"),
            ),
            _City(("Barcelona", "Barcelona"), "080##", ("+3493#######",), ("Cataluña", "Cataluna")),
            _City(("A Coruña", "A Coruna"), "150##", ("+34981######",), ("Galicia", "Galicia")),
            _City(
                ("València", "Valencia"),
                "460##",
                ("+3496#######",),
                ("Comunidad Valenciana", "Comunidad Valenciana"),
            ),
            _City(("Sabadell", "Sabadell"), "082##", ("+3493#######",), ("Cataluña", "Cataluna")),
        ),
        streets=_latin(
            "Calle Mayor, {n}|Avenida Diagonal, {n}|Calle de Alcalá, {n}"
            "|Polígono Industrial, nave {n}"
        ),
        company_formats=_latin(
            "Tejidos {root} S.L.|Hilaturas {root} S.A.|Confecciones {root} S.L.|Textil {root} S.L."
        ),
        roots=_latin("Peña|Muñoz|Ibáñez|Castaño|Núñez|Albarracín|Garrido"),
    ),
    _Locale(
        key="us",
        country="US",
        language="en",
        weight=16,
        native_share=1.0,
        male=_latin("Michael|David|Chris|Kevin|Robert|Brian|Jason|Marcus|José"),
        female=_latin("Jennifer|Ashley|Linda|Jessica|Sarah|María|Lauren|Megan|Tiffany"),
        surnames=_latin(
            "Johnson|Williams|Brown|Miller|Davis|García|Martinez|Nguyen|Lee|Anderson|Robinson"
            "|Walker|Kim"
        ),
        cities=(
            _City(
                ("New York", "New York"), "100##", ("+121255501##", "+164655501##"), ("NY", "NY")
            ),
            _City(("Los Angeles", "Los Angeles"), "900##", ("+121355501##",), ("CA", "CA")),
            _City(("Charlotte", "Charlotte"), "282##", ("+170455501##",), ("NC", "NC")),
            _City(("Dallas", "Dallas"), "752##", ("+121455501##",), ("TX", "TX")),
            _City(("Atlanta", "Atlanta"), "303##", ("+140455501##",), ("GA", "GA")),
            _City(("Chicago", "Chicago"), "606##", ("+131255501##",), ("IL", "IL")),
        ),
        streets=_latin("{n} Broadway|{n} Main Street|{n} Industrial Blvd|{n} Market Street"),
        company_formats=_latin(
            "{root} Textiles Inc.|{root} Fabrics LLC|{root} Apparel Group|{root} Linen Supply Co."
        ),
        roots=_latin("Carolina|Lone Star|Hudson|Pacific|Piedmont|Liberty|Blue Ridge|Empire"),
    ),
)


def _nfc(value: Any) -> Any:
    """The reference data in NFC, the form the services store text in (text.clean)."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, tuple):
        return tuple(_nfc(item) for item in value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: _nfc(getattr(value, f.name)) for f in fields(value)})
    return value


LOCALES = _nfc(LOCALES)
_BY_KEY = {loc.key: loc for loc in LOCALES}
# People of another naming culture who work for a company of this one.
_SIBLINGS = {"ur": ("sd",), "sd": ("ur",), "ta": ("hi",), "hi": ("ta",), "si": ("ta",)}

#: Every demo user logs in to the app with this password.
DEMO_PASSWORD = "crmbook-demo"
# (login, name, role, countries whose customers they own)
USERS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("demo", "Demo Admin", "admin", ()),
    ("ayesha", "عائشہ صدیقی", "manager", ("PK",)),
    ("sophie", "Sophie Wagner", "manager", ("DE", "FR", "ES")),
    ("bilal", "بلال احمد", "sales", ("PK", "PK")),
    ("ravi", "ரவி சுப்பிரமணியம்", "sales", ("IN", "LK")),
    ("farhana", "ফারহানা আক্তার", "sales", ("BD",)),
    ("olga", "Ольга Смирнова", "sales", ("RU",)),
    ("james", "James Carter", "sales", ("GB", "US", "DE")),
)
USERS = _nfc(USERS)
#: Sales teams, for the reports' team filter.
TEAMS = {
    "ayesha": "South Asia",
    "bilal": "South Asia",
    "ravi": "South Asia",
    "farhana": "South Asia",
    "sophie": "Europe and Americas",
    "olga": "Europe and Americas",
    "james": "Europe and Americas",
}

TAGS: tuple[tuple[str, int], ...] = (
    ("VIP", 1),
    ("Key account", 2),
    ("Retail", 3),
    ("Wholesale", 4),
    ("Textile", 5),
    ("Garments", 6),
    ("Home textiles", 7),
    ("Yarn", 8),
    ("Export", 9),
    ("Importer", 10),
    ("Decision maker", 11),
    ("Newsletter", 0),
    ("Repeat order", 1),
    ("Urgent", 2),
    ("Sample sent", 3),
)
_SECTORS = ("Textile", "Garments", "Home textiles", "Yarn")
_MAKERS = ("PK", "IN", "BD", "LK")  # countries that mostly export textiles

# (product, unit, smallest and largest order, price per unit in US dollars)
PRODUCTS: tuple[tuple[str, str, int, int, float], ...] = (
    ("Cotton yarn 30/1", "kg", 2_000, 60_000, 3.2),
    ("Denim fabric", "m", 2_000, 80_000, 3.5),
    ("Bed sheets", "pcs", 1_000, 30_000, 6.0),
    ("Terry towels", "pcs", 2_000, 60_000, 2.5),
    ("Polo shirts", "pcs", 500, 20_000, 5.0),
    ("Knitted T-shirts", "pcs", 1_000, 60_000, 2.8),
    ("Greige fabric", "m", 5_000, 150_000, 1.2),
    ("Lawn prints", "m", 2_000, 40_000, 2.5),
    ("Curtain fabric", "m", 1_000, 20_000, 4.0),
    ("Hosiery", "dozen", 300, 10_000, 9.0),
    ("Silk sarees", "pcs", 100, 2_000, 40.0),
    ("Jute bags", "pcs", 5_000, 100_000, 1.1),
    ("Batik sarongs", "pcs", 300, 6_000, 8.0),
    ("Linen fabric", "m", 1_000, 25_000, 7.0),
    ("Workwear", "pcs", 300, 10_000, 12.0),
    ("Organic cotton T-shirts", "pcs", 1_000, 30_000, 4.0),
)
# Local currency per US dollar: fixed, so that deal values do not depend on the day.
USD_RATES = {
    "PKR": 280.0,
    "INR": 84.0,
    "BDT": 118.0,
    "LKR": 300.0,
    "RUB": 90.0,
    "EUR": 0.92,
    "GBP": 0.79,
    "USD": 1.0,
}
SOURCES = (
    "Referral",
    "Website",
    "Trade fair",
    "Cold call",
    "Existing customer",
    "LinkedIn",
    "WhatsApp",
)
LOST_NOTES = (
    "Went with a mill in Tiruppur.",
    "Our price was 8% above their budget.",
    "Lab dip not approved in time.",
    "Customer postponed the season.",
    "No reply after the second sample.",
    "Needed OEKO-TEX certificate we could not provide.",
)
COMPANY_NOTES = (
    "Pays by LC at sight.",
    "Prefers WhatsApp over e-mail.",
    "Asks for GOTS-certified cotton.",
    "Payment terms: 30% advance, 70% against B/L.",
    "Visits the Heimtextil fair every January.",
)
ACTIVITY_SUBJECTS: dict[str, tuple[str, ...]] = {
    "call": (
        "Call {first} about {product}",
        "Follow up on quotation",
        "Confirm delivery date",
        "Payment reminder call",
    ),
    "meeting": (
        "Meeting at {company}",
        "Showroom visit with {first}",
        "Factory visit",
        "Video call: sample review",
    ),
    "email": (
        "Send price list",
        "Email proforma invoice",
        "Send revised quotation",
        "Share shipping documents",
    ),
    "todo": (
        "Prepare samples of {product}",
        "Check LC status",
        "Update costing sheet",
        "Arrange lab dips",
        "Book courier for swatches",
    ),
}
INTERACTION_SUBJECTS: dict[str, tuple[str, ...]] = {
    "email": (
        "Price list for next season",
        "Re: samples of {product}",
        "Proforma invoice",
        "Order confirmation",
        "Shipping documents",
        "Re: payment reminder",
        "Quotation for {product}",
        "Lab dip approval",
    ),
    "call": (
        "Call about {product}",
        "Follow-up call",
        "Price negotiation",
        "Delivery schedule",
        "Payment follow-up",
        "Introduction call",
    ),
    "meeting": (
        "Visit in {city}",
        "Showroom visit",
        "Factory audit",
        "Trade fair meeting",
        "Video meeting: {product}",
    ),
    "message": ("WhatsApp: photos of {product}", "WhatsApp: voice note", "Message about delivery"),
    "note": (
        "Prefers payment by LC",
        "Buyer travelling until next month",
        "Interested in organic cotton (GOTS)",
        "Asked for OEKO-TEX certificate",
    ),
}
SUMMARIES = (
    "Discussed quantities and delivery dates.",
    "Sent revised prices.",
    "Customer asked for a volume discount.",
    "Agreed to send swatches.",
    "Confirmed payment terms: 30% advance, 70% against B/L.",
    "Shared photos of the new collection.",
    None,
    None,
)
# Interaction channels with their weights and the share of incoming ones.
CHANNEL_MIX: tuple[tuple[str, int, float], ...] = (
    ("email", 35, 0.5),
    ("call", 25, 0.4),
    ("message", 20, 0.55),
    ("meeting", 10, 0.2),
    ("note", 10, 0.0),
)
TIERS = ("Bronze", "Silver", "Gold", "Platinum")
INCOTERMS = ("EXW", "FOB", "CIF", "DDP")


# -- small helpers ----------------------------------------------------------------------


def _expand(chars: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(chars):
        if i + 2 < len(chars) and chars[i + 1] == "-":
            out.extend(chr(c) for c in range(ord(chars[i]), ord(chars[i + 2]) + 1))
            i += 3
        else:
            out.append(chars[i])
            i += 1
    return "".join(out)


def _fill(pattern: str, rng: random.Random) -> str:
    """Fill a pattern: ``#`` a digit, ``@`` a capital letter, ``[a-c9]`` one of those."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "#":
            out.append(str(rng.randrange(10)))
        elif ch == "@":
            out.append(rng.choice(string.ascii_uppercase))
        elif ch == "[":
            end = pattern.index("]", i)
            out.append(rng.choice(_expand(pattern[i + 1 : end])))
            i = end
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _phone(rng: random.Random, patterns: Sequence[str], country: str) -> str:
    """A random phone number valid for ``country`` (as phonenumbers judges it), in E.164.

    Patterns describe the shape of real numbers but not every block in it is
    allocated, so invalid draws are retried; the retries come from the same ``rng``,
    which keeps the result deterministic.
    """
    for _ in range(200):
        number = phonenumbers.parse(_fill(rng.choice(patterns), rng), None)
        if (
            phonenumbers.is_valid_number(number)
            and phonenumbers.region_code_for_number(number) == country
        ):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise CrmError(f"demo data: no valid {country} phone number from patterns {patterns}")


_ASCII = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ı": "i"}
)


def _ascii(name: str, sep: str = "") -> str:
    """Lower-case ASCII letters and digits of a Latin name, for e-mail addresses and slugs."""
    plain = unicodedata.normalize("NFKD", name.translate(_ASCII)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", sep, plain.lower().replace("'", "")).strip(sep)


def _nice(amount: float) -> int:
    """Round to two significant digits, the way deal values are quoted."""
    digits = len(str(int(amount))) - 2
    step = 10 ** max(digits, 0)
    return max(step, round(amount / step) * step)


# -- the builder ------------------------------------------------------------------------


@dataclass
class _Party:
    """A company or contact as later phases need it."""

    obj: Any
    locale: _Locale
    country: str
    created: dt.date
    owner_id: int | None
    native: bool
    first: str = ""
    contacts: list[_Party] = field(default_factory=list)
    size: int = 1
    company: _Party | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class _Deal:
    obj: Opportunity
    contact: _Party
    created: dt.date
    end: dt.date  # closing day, or yesterday for open deals
    product: str


class _Builder:
    def __init__(
        self,
        s: Session,
        rng: random.Random,
        today: dt.date,
        ws: Workspace,
        progress: Progress | None,
    ):
        self.s = s
        self.rng = rng
        self.today = today
        self.tz = ws.timezone
        self.yesterday = today - dt.timedelta(days=1)
        self.progress = progress
        self.counts: dict[str, int] = {}
        self.users: dict[str, User] = {}
        self.tags: dict[str, Tag] = {}
        self.defs: dict[str, CustomFieldDefinition] = {}
        self.companies: list[_Party] = []
        self.contacts: list[_Party] = []
        self.deals: list[_Deal] = []
        self.emails: set[str] = set()
        self.company_names: set[str] = set()
        self.campaign_members: dict[int, dict[int, dt.date]] = {}
        self.owners: dict[str, list[int]] = {}

    # -- time ---------------------------------------------------------------------------
    def day(self, days_ago: int) -> dt.date:
        return self.today - dt.timedelta(days=days_ago)

    def at(self, day: dt.date) -> dt.datetime:
        """A moment in office hours of ``day`` (workspace time zone), in UTC, whole seconds."""
        local = dt.datetime.combine(
            day,
            dt.time(self.rng.randint(8, 17), self.rng.randrange(60), self.rng.randrange(60)),
            tzinfo=self.tz,
        )
        return local.astimezone(dt.UTC)

    def between(self, first: dt.date, last: dt.date) -> dt.date:
        if last <= first:
            return first
        return first + dt.timedelta(days=self.rng.randint(0, (last - first).days))

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    # -- staff, tags, custom fields -------------------------------------------------------
    def build_users(self) -> None:
        self.say(f"Adding {len(USERS)} staff users")
        existing = {u.login: u for u in self.s.scalars(select(User))}
        created = 0
        for i, (login, name, role, _countries) in enumerate(USERS):
            user = existing.get(login)
            if user is None:
                user = User(
                    name=text.clean(name),
                    login=login,
                    email=f"{login}@crmbook-demo.{DEMO_DOMAIN}",
                    role=role,
                    active=True,
                    created_at=self.at(self.day(1100 - 20 * i)),
                )
                self.s.add(user)
                created += 1
            if user.password_hash is None:
                user.password_hash = hash_password(DEMO_PASSWORD)
            if user.team is None and login in TEAMS:
                user.team = TEAMS[login]
            self.users[login] = user
        self.s.flush()
        # Unless the workspace acts as someone already (ws.as_user), the journal names
        # the demo admin as the author of everything from here on.
        if self.s.info.get("user_id") is None:
            self.s.info["user_id"] = self.users["demo"].id
        self.counts["users"] = created
        for login, _name, _role, countries in USERS:
            for country in countries:
                self.owners.setdefault(country, []).append(self.users[login].id)

    def build_tags_and_fields(self) -> None:
        self.say("Adding tags and custom fields")
        long_ago = self.at(self.day(1100))
        existing = {t.name_key: t for t in self.s.scalars(select(Tag))}
        new_tags = 0
        for name, color in TAGS:
            tag = existing.get(text.fold(name))
            if tag is None:
                tag = Tag(name=name, name_key=text.fold(name), color=color, created_at=long_ago)
                self.s.add(tag)
                new_tags += 1
            self.tags[name] = tag
        definitions = (
            ("contact", "customer_tier", "choice", list(TIERS), "Customer tier"),
            ("company", "employees", "number", None, "Employees"),
            ("opportunity", "incoterm", "choice", list(INCOTERMS), "Incoterm"),
        )
        have = {(d.entity, d.name): d for d in self.s.scalars(select(CustomFieldDefinition))}
        new_defs = 0
        for entity, name, kind, choices, label in definitions:
            d = have.get((entity, name))
            if d is None:
                d = CustomFieldDefinition(
                    entity=entity,
                    name=name,
                    type=kind,
                    choices=choices,
                    required=False,
                    label=label,
                    created_at=long_ago,
                )
                self.s.add(d)
                new_defs += 1
            self.defs[name] = d
        self.s.flush()
        self.counts["tags"] = new_tags
        self.counts["custom_fields"] = new_defs

    def custom(self, name: str, value: Any) -> Any:
        # The services' own validator gives the stored form (numbers as decimal strings).
        return clean_custom_value(self.defs[name], value)

    # -- people and places -----------------------------------------------------------------
    def pick_locale(self) -> _Locale:
        return self.rng.choices(LOCALES, weights=[loc.weight for loc in LOCALES])[0]

    def owner_for(self, country: str) -> int:
        if self.rng.random() < 0.04:
            # Managers and the admin look after a few accounts themselves.
            return self.users[self.rng.choice(("demo", "ayesha", "sophie"))].id
        return self.rng.choice(self.owners[country])

    def email(self, local: str, domain: str) -> str:
        address = f"{local}@{domain}"
        n = 1
        while address in self.emails:
            n += 1
            address = f"{local}{n}@{domain}"
        self.emails.add(address)
        # The services' validator: the stored form is exactly what ws.contacts.create keeps.
        clean = v.email(address)
        assert clean is not None
        return clean

    def person(self, loc: _Locale) -> tuple[str, str, Pair, Pair, bool]:
        """A new person of ``loc``: (name and first name as written, the first and last
        name pairs, whether written in the local script)."""
        rng = self.rng
        female = rng.random() < 0.42
        first = rng.choice(loc.female if female else loc.male)
        pool = loc.surnames + (loc.female_surnames if female else ())
        last = rng.choice(pool)
        if female and loc.slavic:
            last = (last[0] + "а", last[1] + "a")
        native = rng.random() < loc.native_share
        i = 0 if native else 1
        return text.clean(f"{first[i]} {last[i]}") or "", first[i], first, last, native

    def build_companies(self) -> None:
        self.say(f"Adding {N_COMPANIES} companies")
        rng = self.rng
        for _ in range(N_COMPANIES):
            loc = self.pick_locale()
            country = COUNTRIES[loc.country]
            native = rng.random() < loc.native_share
            i = 0 if native else 1
            for _try in range(100):
                fmt = rng.choice(loc.company_formats)
                root = rng.choice(loc.roots)
                kind = rng.choice(loc.kinds)
                name = " ".join(fmt[i].format(root=root[i], kind=kind[i]).split())
                latin = " ".join(fmt[1].format(root=root[1], kind=kind[1]).split())
                if text.fold(name) not in self.company_names:
                    break
            self.company_names.add(text.fold(name))
            slug = _ascii(latin, "-")[:40].strip("-")
            city = rng.choice(loc.cities)
            created = self.day(
                rng.randint(560, 1100) if rng.random() < 0.75 else rng.randint(45, 559)
            )
            size = _nice(10 ** rng.uniform(0.8, 3.6))
            tags = [rng.choices(_SECTORS, weights=(45, 25, 20, 10))[0]]
            trade = rng.random()
            tags += ["Wholesale"] if trade < 0.45 else ["Retail"] if trade < 0.7 else []
            if rng.random() < 0.5:
                tags.append("Export" if loc.country in _MAKERS else "Importer")
            if rng.random() < 0.08:
                tags.append("VIP")
            if rng.random() < 0.06:
                tags.append("Key account")
            owner = self.owner_for(loc.country)
            company = Company(
                name=name,
                name_key=text.fold(name)[:300],
                email=self.email(
                    rng.choice(("info", "sales", "office", "contact")), f"{slug}.{DEMO_DOMAIN}"
                ),
                phone=_phone(rng, city.landlines or country.mobiles, loc.country),
                street=text.clean(rng.choice(loc.streets)[i].format(n=rng.randint(1, 250))),
                city=city.name[i],
                zip=_fill(city.zip, rng),
                state=city.state[i] if city.state else None,
                country=loc.country,
                website=f"https://www.{slug}.{DEMO_DOMAIN}",
                vat=_fill(country.vat, rng),
                owner_id=owner,
                notes=rng.choice(COMPANY_NOTES) if rng.random() < 0.15 else None,
                active=True,
                custom={"employees": self.custom("employees", size)} if rng.random() < 0.85 else {},
                created_at=self.at(created),
            )
            company.email_key = text.fold(company.email) or None
            company.city_key = text.fold(company.city) or None
            company.tags = [self.tags[t] for t in tags]
            self.s.add(company)
            self.companies.append(
                _Party(company, loc, loc.country, created, owner, native, size=size, tags=tags)
            )
        self.s.flush()
        self.counts["companies"] = len(self.companies)

    def build_contacts(self) -> None:
        self.say(f"Adding {N_CONTACTS} contacts")
        rng = self.rng
        n_individuals = N_CONTACTS // 10
        extra = N_CONTACTS - n_individuals - len(self.companies)
        per_company = [1] * len(self.companies)
        weights = [c.size**0.5 for c in self.companies]
        for index in rng.choices(range(len(self.companies)), weights=weights, k=extra):
            per_company[index] += 1
        for company, count in zip(self.companies, per_company, strict=True):
            for n in range(count):
                self.add_contact(company, first_one=n == 0)
        for _ in range(n_individuals):
            self.add_contact(None)
        self.s.flush()
        self.counts["contacts"] = len(self.contacts)

    def add_contact(self, company: _Party | None, first_one: bool = False) -> None:
        rng = self.rng
        if company is not None:
            loc = company.locale
            if loc.key in _SIBLINGS and rng.random() < 0.15:
                loc = _BY_KEY[rng.choice(_SIBLINGS[loc.key])]
            country_code = company.country
            home = _BY_KEY[company.locale.key]
            created = company.created + dt.timedelta(days=0 if first_one else rng.randint(0, 120))
            created = min(created, self.day(14))
            owner = company.owner_id
        else:
            loc = home = self.pick_locale()
            country_code = loc.country
            created = self.day(rng.randint(30, 1000))
            owner = self.owner_for(country_code)
        country = COUNTRIES[country_code]
        name, first, first_pair, last_pair, native = self.person(loc)
        i = 0 if native else 1
        city = rng.choice(home.cities)
        if company is not None and rng.random() < 0.9:
            city_name = company.obj.city
            zip_code = company.obj.zip
            domain = company.obj.email.split("@", 1)[1]
        else:
            city_name = city.name[i] if home is loc else city.name[1]
            zip_code = _fill(city.zip, rng)
            domain = rng.choice(("example.com", "example.net", "example.org"))
        given, family = _ascii(first_pair[1]), _ascii(last_pair[1])
        local = rng.choice(
            (f"{given}.{family}", f"{given[0]}{family}", f"{given}{family[0]}", f"{given}.{family}")
        )
        if company is None:
            local = f"{given}.{family}{rng.randint(1, 99)}"
        titles = loc.titles if (loc.titles and native) else _EN_TITLES
        title = titles[0] if first_one else rng.choice(titles)
        tags: list[str] = []
        if rng.random() < (0.4 if company and "VIP" in company.tags else 0.05):
            tags.append("VIP")
        if first_one or rng.random() < 0.15:
            tags.append("Decision maker")
        if rng.random() < 0.3:
            tags.append("Newsletter")
        custom = {}
        if company is not None and rng.random() < 0.6:
            custom["customer_tier"] = self.custom(
                "customer_tier", rng.choices(TIERS, weights=(40, 30, 20, 10))[0]
            )
        contact = Contact(
            name=name,
            name_key=text.fold(name)[:300],
            email=self.email(local, domain) if rng.random() < 0.85 else None,
            phone=_phone(rng, city.landlines, country_code)
            if (city.landlines and home.country == country_code and rng.random() < 0.3)
            else None,
            mobile=_phone(rng, country.mobiles, country_code) if rng.random() < 0.92 else None,
            street=text.clean(rng.choice(home.streets)[i].format(n=rng.randint(1, 250)))
            if company is None
            else None,
            city=city_name,
            zip=zip_code,
            country=country_code,
            company_id=company.obj.id if company else None,
            job_title=title if company else None,
            language=loc.language,
            birthday=dt.date(rng.randint(1960, 2000), rng.randint(1, 12), rng.randint(1, 28))
            if rng.random() < 0.2
            else None,
            owner_id=owner,
            active=True,
            custom=custom,
            created_at=self.at(created),
        )
        contact.email_key = text.fold(contact.email) or None
        contact.city_key = text.fold(contact.city) or None
        contact.tags = [self.tags[t] for t in tags]
        self.s.add(contact)
        party = _Party(
            contact, loc, country_code, created, owner, native, first=first, company=company
        )
        party.tags = tags
        self.contacts.append(party)
        if company is not None:
            company.contacts.append(party)

    # -- campaigns and segments ------------------------------------------------------------
    def build_segments_and_campaigns(self) -> None:
        self.say("Adding segments and campaigns")
        rng = self.rng
        segments = (
            ("VIP contacts", "contact", {"tag": "VIP"}),
            ("Contacts in Pakistan", "contact", {"country": "PK"}),
            ("Wholesale companies in Pakistan", "company", {"country": "PK", "tag": "Wholesale"}),
            ("Deals in negotiation", "opportunity", {"stage": "Negotiation", "status": "open"}),
        )
        made: dict[str, Segment] = {}
        for name, entity, filters in segments:
            seg = Segment(
                name=name, entity=entity, filters=filters, created_at=self.at(self.day(400))
            )
            self.s.add(seg)
            made[name] = seg
        self.s.flush()
        fair = self.day(120)
        mailing = self.day(60)
        campaigns = (
            (
                Campaign(
                    name=f"Heimtextil Frankfurt {fair.year}",
                    channel="trade fair",
                    starts_on=fair,
                    ends_on=fair + dt.timedelta(days=3),
                    cost=Decimal("18500.00"),
                    currency="EUR",
                    created_at=self.at(fair - dt.timedelta(days=75)),
                ),
                [c for c in self.contacts if c.company is not None and c.created < fair],
                150,
                0.35,
            ),
            (
                Campaign(
                    name=f"Summer lawn collection {mailing.year}: e-mail",
                    channel="email",
                    starts_on=mailing,
                    ends_on=mailing + dt.timedelta(days=30),
                    cost=Decimal("250000.00"),
                    currency="PKR",
                    segment_id=made["Contacts in Pakistan"].id,
                    created_at=self.at(mailing - dt.timedelta(days=20)),
                ),
                [
                    c
                    for c in self.contacts
                    if c.country == "PK" and c.obj.email and c.created < mailing
                ],
                10_000,
                0.12,
            ),
        )
        members: list[CampaignMember] = []
        for camp, candidates, most, response in campaigns:
            self.s.add(camp)
            self.s.flush()
            start = camp.starts_on
            assert start is not None
            chosen = rng.sample(candidates, min(most, len(candidates)))
            chosen.sort(key=lambda p: p.obj.id)
            joined = self.campaign_members.setdefault(camp.id, {})
            for person in chosen:
                added = max(person.created, start - dt.timedelta(days=rng.randint(3, 30)))
                responded = None
                if rng.random() < response:
                    day = min(start + dt.timedelta(days=rng.randint(0, 20)), self.yesterday)
                    responded = self.at(day)
                members.append(
                    CampaignMember(
                        campaign_id=camp.id,
                        contact_id=person.obj.id,
                        added_at=self.at(added),
                        responded_at=responded,
                    )
                )
                joined[person.obj.id] = start
        self.s.add_all(members)
        self.s.flush()
        self.counts["segments"] = len(made)
        self.counts["campaigns"] = len(campaigns)
        self.counts["campaign_members"] = len(members)

    # -- deals -------------------------------------------------------------------------------
    def build_opportunities(self) -> None:
        self.say(f"Adding {N_OPPORTUNITIES} opportunities with their stage history")
        rng = self.rng
        pipeline = self.s.scalars(select(Pipeline).where(Pipeline.name == "Sales")).one()
        stages = list(
            self.s.scalars(
                select(Stage).where(Stage.pipeline_id == pipeline.id).order_by(Stage.sequence)
            )
        )
        open_stages = [st for st in stages if not (st.is_won or st.is_lost)]
        won = next(st for st in stages if st.is_won)
        lost = next((st for st in stages if st.is_lost), None)
        reasons = list(
            self.s.scalars(
                select(LostReason).where(LostReason.active.is_(True)).order_by(LostReason.id)
            )
        )
        weights = [c.size**0.5 for c in self.companies]
        individuals = [c for c in self.contacts if c.company is None]
        paths: list[tuple[_Deal, list[Stage], list[dt.datetime]]] = []
        for _ in range(N_OPPORTUNITIES):
            if rng.random() < 0.93:
                company: _Party | None = rng.choices(self.companies, weights=weights)[0]
                assert company is not None
                contact = rng.choice(company.contacts)
            else:
                company = None
                contact = rng.choice(individuals)
            # Recent deals are more frequent than old ones (the business grows).
            contact_age = (self.today - contact.created).days
            ago = 1 + int((min(HISTORY_DAYS, contact_age - 1) - 1) * rng.random() ** 1.4)
            created = self.day(ago)
            closing = min(0.92, ago / 220)
            outcome = (
                "open" if rng.random() >= closing else "won" if rng.random() < 0.57 else "lost"
            )
            if outcome == "open":
                target = rng.choices(range(len(open_stages)), weights=(30, 27, 23, 20))[0]
                path = (
                    [open_stages[0]]
                    + [st for st in open_stages[1:target] if rng.random() < 0.85]
                    + ([open_stages[target]] if target else [])
                )
            else:
                reach = (
                    len(open_stages) - 1
                    if outcome == "won"
                    else rng.choices(range(len(open_stages)), weights=(30, 30, 25, 15))[0]
                )
                path = [open_stages[0]] + [
                    st for st in open_stages[1 : reach + 1] if rng.random() < 0.85
                ]
                if outcome == "won":
                    path.append(won)
                elif lost is not None:
                    path.append(lost)
            end = self.yesterday
            if outcome != "open":
                end = created + dt.timedelta(days=rng.randint(0, min(ago - 1, 150)))
            moments = self.moments(created, end, len(path), closes=outcome != "open")
            product, unit, low, high, price = rng.choice(PRODUCTS)
            quantity = _nice(low * (high / low) ** rng.random())
            country = COUNTRIES[contact.country]
            # Value follows quantity and the going price, with room for negotiation.
            revenue = _nice(
                quantity * price * USD_RATES[country.currency] * rng.uniform(0.85, 1.15)
            )
            final = path[-1]
            status = outcome
            tags = []
            if rng.random() < 0.2:
                tags.append("Repeat order")
            if outcome == "open" and rng.random() < 0.1:
                tags.append("Urgent")
            if rng.random() < 0.25:
                tags.append("Sample sent")
            if company is not None and "Export" in company.tags:
                tags.append("Export")
            source = rng.choice(SOURCES)
            campaign_id = None
            for camp_id, joined in self.campaign_members.items():
                start = joined.get(contact.obj.id)
                if start is not None and start <= created <= start + dt.timedelta(days=90):
                    campaign_id = camp_id
                    source = "Campaign"
            name = f"{product}, {quantity:,} {unit}"
            opp = Opportunity(
                name=name,
                name_key=text.fold(name)[:300],
                type="lead" if (final is open_stages[0] and rng.random() < 0.5) else "opportunity",
                company_id=company.obj.id if company else None,
                contact_id=contact.obj.id,
                owner_id=contact.owner_id,
                pipeline_id=pipeline.id,
                stage_id=final.id,
                expected_revenue=Decimal(revenue).quantize(Decimal("0.01")),
                currency=country.currency,
                probability=Decimal(100)
                if status == "won"
                else Decimal(0)
                if status == "lost"
                else final.probability,
                expected_close=(
                    end
                    if status == "won"
                    else created + dt.timedelta(days=rng.randint(30, 120))
                    if status == "lost"
                    else self.today + dt.timedelta(days=rng.randint(-30, 120))
                ),
                priority=rng.choices((0, 1, 2, 3), weights=(40, 35, 18, 7))[0],
                status=status,
                lost_reason_id=rng.choice(reasons).id if status == "lost" and reasons else None,
                lost_note=rng.choice(LOST_NOTES)
                if status == "lost" and rng.random() < 0.4
                else None,
                source=source,
                campaign_id=campaign_id,
                active=True,
                created_at=moments[0],
                closed_at=moments[-1] if status != "open" else None,
                custom={"incoterm": self.custom("incoterm", rng.choice(INCOTERMS))}
                if (company is not None and "Export" in company.tags and rng.random() < 0.7)
                else {},
            )
            opp.tags = [self.tags[t] for t in tags]
            self.s.add(opp)
            deal = _Deal(opp, contact, created, end, product)
            self.deals.append(deal)
            paths.append((deal, path, moments))
        self.s.flush()
        changes: list[StageChange] = []
        for deal, path, moments in paths:
            previous: Stage | None = None
            for stage, moment in zip(path, moments, strict=True):
                changes.append(
                    StageChange(
                        opportunity_id=deal.obj.id,
                        from_stage_id=previous.id if previous else None,
                        to_stage_id=stage.id,
                        changed_at=moment,
                        changed_by_id=deal.obj.owner_id,
                    )
                )
                previous = stage
        self.s.add_all(changes)
        self.s.flush()
        self.counts["opportunities"] = len(self.deals)
        self.counts["stage_changes"] = len(changes)

    def moments(self, first: dt.date, last: dt.date, n: int, closes: bool) -> list[dt.datetime]:
        """``n`` strictly increasing office-hour moments from ``first`` to ``last``.

        The first falls on ``first`` (the deal's creation); when the deal ``closes``,
        the last falls on ``last``, its closing day. Moves on one day follow each
        other by minutes.
        """
        days = [first, *sorted(self.between(first, last) for _ in range(n - 1))]
        if closes and n > 1:
            days[-1] = last
        out: list[dt.datetime] = []
        for day in days:
            moment = self.at(day)
            if out and moment <= out[-1]:
                moment = out[-1] + dt.timedelta(minutes=self.rng.randint(5, 90))
            out.append(moment)
        return out

    # -- activities and interactions --------------------------------------------------------
    def link(self, deal: _Deal | None, person: _Party) -> dict[str, Any]:
        company = person.company.obj.id if person.company else None
        return {
            "contact_id": person.obj.id,
            "company_id": company,
            "opportunity_id": deal.obj.id if deal else None,
        }

    def subject(self, templates: Sequence[str], person: _Party, product: str) -> str:
        company = person.company.obj.name if person.company else person.obj.name
        city = person.obj.city or ""
        return self.rng.choice(templates).format(
            first=person.first, product=product.lower(), company=company, city=city
        )[:300]

    def build_activities(self) -> None:
        self.say(f"Adding {N_ACTIVITIES} activities")
        rng = self.rng
        open_deals = [d for d in self.deals if d.obj.status == "open"]
        plan = (
            [("done", None)] * (N_ACTIVITIES - N_OVERDUE - N_DUE_TODAY - N_UPCOMING)
            + [("overdue", None)] * N_OVERDUE
            + [("today", None)] * N_DUE_TODAY
            + [("upcoming", None)] * N_UPCOMING
        )
        activities: list[Activity] = []
        for state, _ in plan:
            deal: _Deal | None
            if state == "done":
                deal = rng.choice(self.deals) if rng.random() < 0.85 else None
            else:
                deal = rng.choice(open_deals) if rng.random() < 0.9 else None
            person = deal.contact if deal else rng.choice(self.contacts)
            born = deal.created if deal else person.created
            product = deal.product if deal else rng.choice(PRODUCTS)[0]
            kind = rng.choices(("call", "meeting", "email", "todo"), weights=(35, 15, 25, 25))[0]
            done_at = None
            if state == "done":
                last = deal.end if deal else self.yesterday
                due = self.between(max(born, self.day(HISTORY_DAYS)), last)
                done_day = min(due + dt.timedelta(days=rng.choice((0, 0, 0, 1, 2))), self.yesterday)
                done_at = self.at(done_day)
            elif state == "overdue":
                due = max(self.day(rng.randint(1, 30)), born)
                if due >= self.today:
                    due = self.yesterday
            elif state == "today":
                due = self.today
            else:
                due = self.today + dt.timedelta(days=rng.randint(1, 45))
            planned = min(max(born, due - dt.timedelta(days=rng.randint(0, 14))), self.yesterday)
            owner = deal.obj.owner_id if deal else person.owner_id
            if rng.random() < 0.05:
                owner = self.users[rng.choice(("ayesha", "sophie"))].id
            created_at = self.at(planned)
            if done_at is not None and created_at > done_at:
                created_at = done_at - dt.timedelta(hours=1)
            activities.append(
                Activity(
                    kind=kind,
                    subject=self.subject(ACTIVITY_SUBJECTS[kind], person, product),
                    note=rng.choice(SUMMARIES) if rng.random() < 0.3 else None,
                    due_date=due,
                    assignee_id=owner,
                    done_at=done_at,
                    created_at=created_at,
                    **self.link(deal, person),
                )
            )
        self.s.add_all(activities)
        self.s.flush()
        self.counts["activities"] = len(activities)

    def build_interactions(self) -> None:
        self.say(f"Adding {N_INTERACTIONS} interactions")
        rng = self.rng
        staff = [u.id for u in self.users.values()]
        # Cumulative weights: computed once instead of on each of the thousands of draws.
        cumulative = list(accumulate(3.0 if c.company is not None else 1.0 for c in self.contacts))
        channels = [c for c, _, _ in CHANNEL_MIX]
        channel_weights = [w for _, w, _ in CHANNEL_MIX]
        incoming = {c: share for c, _, share in CHANNEL_MIX}
        first_day = self.day(HISTORY_DAYS)
        rows: list[Interaction] = []
        for _ in range(N_INTERACTIONS):
            deal: _Deal | None = None
            if rng.random() < 0.35:
                deal = rng.choice(self.deals)
                person = deal.contact
                day = self.between(deal.created, deal.end)
                product = deal.product
            else:
                person = rng.choices(self.contacts, cum_weights=cumulative)[0]
                day = self.between(max(person.created, first_day), self.yesterday)
                product = rng.choice(PRODUCTS)[0]
            channel = rng.choices(channels, weights=channel_weights)[0]
            direction = "in" if rng.random() < incoming[channel] else "out"
            if (
                channel == "message"
                and person.locale.phrases
                and person.native
                and rng.random() < 0.5
            ):
                subject = rng.choice(person.locale.phrases)
            else:
                subject = self.subject(INTERACTION_SUBJECTS[channel], person, product)
            user = person.owner_id if rng.random() < 0.85 else rng.choice(staff)
            occurred = self.at(day)
            rows.append(
                Interaction(
                    channel=channel,
                    direction=direction,
                    occurred_at=occurred,
                    subject=subject,
                    summary=rng.choice(SUMMARIES),
                    user_id=user,
                    # logged by the user shortly after it happened
                    created_at=occurred + dt.timedelta(minutes=rng.randint(1, 120)),
                    **self.link(deal, person),
                )
            )
        # Stored in the order they happened, as a live system would have them.
        rows.sort(key=lambda r: r.occurred_at)
        self.s.add_all(rows)
        self.s.flush()
        self.counts["interactions"] = len(rows)

    # -- the books --------------------------------------------------------------------------
    def build_invoices(self) -> None:
        """Invoices for the won deals and a monthly repeat business, some refunded,
        most paid 10 to 75 days after invoicing, the recent ones partly still open."""
        self.say("Adding the books: invoices and credit notes")
        rng = self.rng
        bills: list[tuple[dt.date, str, Decimal, int | None, int | None]] = []
        for deal in self.deals:
            opp = deal.obj
            if opp.status != "won" or opp.closed_at is None:
                continue
            day = opp.closed_at.date() + dt.timedelta(days=rng.randint(0, 10))
            if day < self.today:
                bills.append(
                    (day, opp.currency, opp.expected_revenue, opp.company_id, opp.contact_id)
                )
        first = add_months(self.today, -(BOOK_MONTHS - 1))
        regulars = rng.sample(self.companies, min(N_REPEAT_CUSTOMERS, len(self.companies)))
        for party in regulars:
            currency = COUNTRIES[party.country].currency
            # 500 to 5,000 US dollars a month, in the customer's currency
            base = Decimal(rng.randint(500, 5000)) * Decimal(str(USD_RATES[currency]))
            growth = rng.uniform(0.0, 0.02)
            for k in range(BOOK_MONTHS):
                month = add_months(first, k)
                day = month + dt.timedelta(days=rng.randint(0, 27))
                if day >= self.today or rng.random() < 0.15:  # a month without an order
                    continue
                factor = SEASON[month.month - 1] * (1 + growth) ** k * rng.uniform(0.85, 1.15)
                amount = (base * Decimal(str(round(factor, 4)))).quantize(Decimal("1"))
                bills.append((day, currency, amount, party.obj.id, None))
        bills.sort(key=lambda b: b[0])
        rows: list[Invoice] = []
        for n, (day, currency, untaxed, company_id, contact_id) in enumerate(bills, 1):
            total = (untaxed * Decimal("1.18")).quantize(Decimal("0.01"))
            due = day + dt.timedelta(days=30)
            age = (self.today - day).days
            paid_after = rng.randint(10, 75)
            if age > 200 and rng.random() < 0.03:  # a bad debt, long overdue
                residual, state, paid_on = total, "not_paid", None
            elif paid_after <= age:
                residual, state, paid_on = Decimal("0.00"), "paid", day + dt.timedelta(paid_after)
            elif rng.random() < 0.3:
                residual = (total * Decimal("0.4")).quantize(Decimal("0.01"))
                state, paid_on = "partial", None
            else:
                residual, state, paid_on = total, "not_paid", None
            rows.append(
                Invoice(
                    backend=DEMO_BOOKS,
                    remote_id=n,
                    number=f"INV/{day.year}/{n:05d}",
                    move_type="out_invoice",
                    company_id=company_id,
                    contact_id=contact_id,
                    invoice_date=day,
                    due_date=due,
                    currency=currency,
                    amount_untaxed=untaxed.quantize(Decimal("0.01")),
                    amount_total=total,
                    amount_residual=residual,
                    state="posted",
                    payment_state=state,
                    paid_on=paid_on,
                )
            )
        refunds = [r for r in rows if r.payment_state == "paid" and rng.random() < 0.04]
        for k, inv in enumerate(refunds, len(rows) + 1):
            invoiced = inv.invoice_date or self.yesterday  # always set above
            day = min(invoiced + dt.timedelta(days=rng.randint(5, 40)), self.yesterday)
            share = Decimal(rng.choice(("0.1", "0.25", "1")))
            rows.append(
                Invoice(
                    backend=DEMO_BOOKS,
                    remote_id=k,
                    number=f"RINV/{day.year}/{k:05d}",
                    move_type="out_refund",
                    company_id=inv.company_id,
                    contact_id=inv.contact_id,
                    invoice_date=day,
                    due_date=day,
                    currency=inv.currency,
                    amount_untaxed=(inv.amount_untaxed * share).quantize(Decimal("0.01")),
                    amount_total=(inv.amount_total * share).quantize(Decimal("0.01")),
                    amount_residual=Decimal("0.00"),
                    state="posted",
                    payment_state="paid",
                    paid_on=day,
                )
            )
        self.s.add_all(rows)
        self.s.flush()
        self.counts["invoices"] = len(rows)


#: The demo's books: invoice copies as an ERP sync would have pulled them.
DEMO_BOOKS = "demo-books"
#: Months of invoice history (the forecast's backtest wants two years).
BOOK_MONTHS = 26
#: Repeat customers invoiced month after month, beside the won deals.
N_REPEAT_CUSTOMERS = 40
#: Monthly seasonality of the repeat business (index 0 = January): a year-end peak.
SEASON = (0.8, 0.85, 1.0, 1.05, 0.95, 0.9, 0.9, 0.95, 1.05, 1.1, 1.25, 1.4)


def build_demo(
    ws: Workspace,
    *,
    seed: int = 7,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Fill an empty workspace with a realistic demo base and return counts per entity.

    Adds 8 staff users, 200 companies, 1,000 contacts, 600 deals across every stage of
    the "Sales" pipeline with their stage history, 1,500 activities (done, overdue, due
    today, upcoming), 4,000 interactions over the last 18 months, tags, two campaigns
    with members, four segments, three custom fields, and the books: customer
    invoices and credit notes over 26 months (the won deals, plus repeat customers
    invoiced monthly with a year-end peak), paid, open and overdue, as the ERP copies
    a sync would have brought in (backend ``demo-books``). The data is international
    and multi-script (Pakistan, India, Bangladesh, Sri Lanka, Russia, Europe, the US)
    with valid phone numbers and local currencies.

    The result depends only on ``seed`` and ``today`` (default: the workspace's today):
    the same pair always builds the same data. Everything is dated before ``today``
    except open activities, which are due today or later, or overdue. ``progress`` is
    called with a message at each phase. Everything is written in one transaction,
    so a failure leaves the workspace as it was.

    Raises :class:`~crm_core.errors.CrmError` if the workspace already has companies
    or contacts: demo data must never mix with real customers.
    """
    with ws.transaction() as s:
        companies = s.scalar(select(func.count()).select_from(Company)) or 0
        contacts = s.scalar(select(func.count()).select_from(Contact)) or 0
    if companies or contacts:
        raise CrmError(
            f"build_demo needs an empty workspace, but this one has {companies} companies and "
            f"{contacts} contacts; demo data must not mix with real customers. "
            "Open a new workspace for the demo."
        )
    # The demo's deals live in the default "Sales" pipeline and are lost for the default
    # reasons: make sure both exist, as in a fresh workspace (a no-op when they do).
    ws.pipeline.ensure_default()
    with ws.transaction() as s:
        has_sales = s.scalar(select(Pipeline.id).where(Pipeline.name == "Sales"))
    if has_sales is None:
        ws.pipeline.create_pipeline("Sales")
    day = today if today is not None else ws.today()
    rng = random.Random(seed)
    with ws.transaction() as s:
        builder = _Builder(s, rng, day, ws, progress)
        builder.build_users()
        builder.build_tags_and_fields()
        builder.build_companies()
        builder.build_contacts()
        builder.build_segments_and_campaigns()
        builder.build_opportunities()
        builder.build_activities()
        builder.build_interactions()
        builder.build_invoices()
        builder.say("Saving")
    # The ERP's exchange rates, as a sync brings them: reports convert every amount.
    ws.rates.merge(demo_rates(day), source="erp")
    # The demo business is in Pakistan: numbers typed without +92 are Pakistani,
    # amounts default to rupees and "today" is Karachi's.
    ws.set_setting("phone_region", "PK")
    ws.set_setting("currency", "PKR")
    ws.set_setting("timezone", "Asia/Karachi")
    if progress is not None:
        progress("Demo ready: " + ", ".join(f"{n} {k}" for k, n in builder.counts.items()))
    return builder.counts


#: How much of each currency a US dollar buys more each month (the rupees weaken), so
#: that the demo's rates move; this month's rate is :data:`USD_RATES`'.
RATE_DRIFT = {"PKR": 0.004, "INR": 0.002, "BDT": 0.004, "LKR": -0.002, "RUB": 0.006}


def demo_rates(today: dt.date) -> list[dict[str, Any]]:
    """Monthly rates against the US dollar from before the demo's first invoice to
    ``today``'s month, as an ERP whose company currency is USD keeps them."""
    first = add_months(today.replace(day=1), -BOOK_MONTHS)
    rows = []
    for k in range(BOOK_MONTHS + 1):
        for currency, per_usd in USD_RATES.items():
            if currency == "USD":
                continue
            drift = (1 + RATE_DRIFT.get(currency, 0.0)) ** (k - BOOK_MONTHS)
            rate = Decimal(f"{per_usd * drift:.6g}")
            rows.append(
                {"currency": currency, "base": "USD", "day": add_months(first, k), "rate": rate}
            )
    return rows


__all__ = ["build_demo", "demo_rates"]
